/** A stored pipeline document with its version; every save bumps the version. */
export interface StoredPipeline {
  document: Record<string, unknown>;
  version: number;
  updatedAt: string;
}

export interface PipelineListing {
  id: string;
  name: string;
  nodeCount: number;
  version: number;
  updatedAt: string;
}

/** The seed's planned IPipelineRepository. Runs copy the document, so deletes never touch them. */
export interface PipelineRepository {
  save(id: string, document: Record<string, unknown>): Promise<{ version: number; created: boolean }>;
  get(id: string): Promise<StoredPipeline | null>;
  /** Up to `limit` pipelines by id, after the id `after` (exclusive), in id order. */
  list(page?: { after?: string | undefined; limit?: number }): Promise<PipelineListing[]>;
  delete(id: string): Promise<boolean>;
}
