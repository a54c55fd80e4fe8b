/** The usage line of each command, for `rigflow help` and for usage errors. */
export const usageLines: Record<string, string> = {
  submit: "rigflow submit <pipeline.json> [--watch]  |  rigflow submit --pipeline <id> [--watch]",
  watch: "rigflow watch <run_id>",
  retry: "rigflow retry <run_id> [--watch]",
  cancel: "rigflow cancel <run_id>",
  pause: "rigflow pause <run_id> [--now]",
  resume: "rigflow resume <run_id> [--watch]",
  recover: "rigflow recover <run_id> <node_id> retry|skip|complete [--outputs JSON]",
  runs: "rigflow runs [--status S] [--pipeline ID] [--limit N] [--cursor C]",
  help: "rigflow help",
};

export const helpText = `rigflow: start, follow, pause, retry and cancel Rigflow pipeline runs from the terminal.

Usage:
  rigflow submit <pipeline.json> [--watch]   start a run of a pipeline document; prints its run id
  rigflow submit --pipeline <id> [--watch]   start a run of a saved pipeline
  rigflow watch <run_id>                     follow a run live, node by node, until it ends
  rigflow retry <run_id> [--watch]           resume a failed or cancelled run (completed nodes stay done)
  rigflow cancel <run_id>                    cancel a run
  rigflow pause <run_id> [--now]             pause a run: no node starts; running ones finish
                                             (--now: stop them; an idempotent one runs again on
                                             resume, any other is held)
  rigflow resume <run_id> [--watch]          resume a paused run
  rigflow recover <run_id> <node_id> retry|skip|complete [--outputs JSON]
                                             decide for a held node: run it again, go on
                                             without it, or complete it with these outputs
  rigflow runs [--status S] [--pipeline ID] [--limit N] [--cursor C]
                                             list runs, newest first
  rigflow help | --help | --version

The file given to submit holds a pipeline document, or a whole POST /api/runs body
({"pipeline": {...}} or {"pipeline_id": "..."}, with "params" if wanted).

Options:
  --url URL       the API (default: $RIGFLOW_URL, else http://localhost:8000)
  --token TOKEN   your token, an operator's or a viewer's, when the API has tokens
                  (default: $RIGFLOW_TOKEN, else $API_TOKEN)
  --json          machine output: the API's JSON; when watching, one event per line
  -w, --watch     after submit, retry or resume, follow the run until it ends
  --now           pause: stop the running commands now rather than let them finish
  --outputs JSON  recover complete: the node's outputs, e.g. '{"position": 42}'
  -s, --status S  runs: only those in status S (queued, running, paused, held, completed,
                  failed, cancelled)
  -p, --pipeline  runs: only those of that pipeline; submit: run that saved pipeline
  -n, --limit N   runs: at most N (1-200, default 20)
  --cursor C      runs: the page after the one that printed C

Watching draws one line per node in place on a terminal; piped or in CI it prints one line per
event. Ctrl-C stops watching; the run goes on.

Exit codes: 0 done (a watched run completed), 1 the watched run failed or was cancelled,
2 bad usage, 3 the API could not be reached or answered with an error, 130 stopped with Ctrl-C.
`;
