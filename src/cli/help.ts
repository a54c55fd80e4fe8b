/** The usage line of each command, for `rigflow help` and for usage errors. */
export const usageLines: Record<string, string> = {
  submit: "rigflow submit <pipeline.json> [--watch]  |  rigflow submit --pipeline <id> [--watch]",
  watch: "rigflow watch <run_id>",
  retry: "rigflow retry <run_id> [--watch]",
  cancel: "rigflow cancel <run_id>",
  pause: "rigflow pause <run_id> [--now]",
  resume: "rigflow resume <run_id> [--watch]",
  recover: "rigflow recover <run_id> <node_id> retry|skip|complete [--outputs JSON]",
  approve: "rigflow approve <run_id> <node_id> [--output name=value ...] [--outputs JSON]",
  reject: "rigflow reject <run_id> <node_id> [--reason TEXT]",
  runs: "rigflow runs [--status S] [--pipeline ID] [--limit N] [--cursor C]",
  help: "rigflow help",
};

export const helpText = `rigflow: start, follow, pause, approve, retry and cancel Rigflow pipeline runs from the terminal.

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
  rigflow approve <run_id> <node_id> [--output name=value ...]
                                             approve a waiting approval node, giving the
                                             outputs it asks for; they flow to its successors
  rigflow reject <run_id> <node_id> [--reason TEXT]
                                             reject a waiting approval node: it fails REJECTED
                                             (or is held, if its on_failure is hold)
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
  --outputs JSON  recover complete, approve: the node's outputs, e.g. '{"position": 42}'
  --output N=V    approve: one output, again for each; V is read as JSON when it is JSON
                  (position=42 is a number), else as text (plate_id=P-17); quote a text that
                  looks like JSON: plate_id='"42"'
  --reason TEXT   reject: why; the node's error says it ("rejected: TEXT")
  -s, --status S  runs: only those in status S (queued, running, paused, held, completed,
                  failed, cancelled), or waiting: those with an approval waiting for a person
  -p, --pipeline  runs: only those of that pipeline; submit: run that saved pipeline
  -n, --limit N   runs: at most N (1-200, default 20)
  --cursor C      runs: the page after the one that printed C

Watching draws one line per node in place on a terminal; piped or in CI it prints one line per
event. A node that waits for a person (held, or an approval waiting) shows the command that moves
it on. Ctrl-C stops watching; the run goes on.

Exit codes: 0 done (a watched run completed), 1 the watched run failed or was cancelled,
2 bad usage, 3 the API could not be reached or answered with an error, 130 stopped with Ctrl-C.
`;
