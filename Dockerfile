# One image for both processes: `npm run api` or `npm run worker` (see docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY tsconfig.json devices.demo.json ./
COPY src ./src
ENV NODE_ENV=production
EXPOSE 8000
CMD ["npm", "run", "api"]
