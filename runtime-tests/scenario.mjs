/**
 * The runtime tests' scenario, plain JavaScript so that every runtime runs it as is: connect
 * with settings from an env object, submit a task, drain it with a worker, read the task
 * and its history. `oq` is the module under test (the sources, or the installed package).
 *
 * @param {{ connect: Function, Worker: Function }} oq
 * @param {Record<string, string | undefined>} env S3_ENDPOINT, S3_BUCKET, AWS_ACCESS_KEY_ID, ...
 * @param {string} runtime a name for the worker id
 */
export async function scenario(oq, env, runtime) {
  const queue = await oq.connect({ env, warn: () => {} });
  const task = await queue.submit("greet", { name: runtime });
  const worker = new oq.Worker(queue, `runtime-test-${runtime}`).task(
    "greet",
    (input) => ({ hello: input.name }),
  );
  const summary = await worker.runUntilIdle({ maxTimeMs: 60_000 });
  const done = await queue.get(task.id);
  const history = await queue.getHistory(task.id);
  return {
    runtime,
    summary,
    status: done?.status,
    output: done?.output,
    history: history.map((h) => h.status),
  };
}
