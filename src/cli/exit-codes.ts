/** What `rigflow` exits with; scripts and CI depend on these, and the help text lists them. */
export const exitCodes = {
  /** The command did what was asked; for a watched run: it completed. */
  ok: 0,
  /** The watched run failed or was cancelled. */
  runNotCompleted: 1,
  usage: 2,
  /** The API could not be reached, or answered with an error. */
  api: 3,
  /** Ctrl-C stopped a watch (the run itself goes on): 128 + SIGINT, as shells report it. */
  interrupted: 130,
} as const;
