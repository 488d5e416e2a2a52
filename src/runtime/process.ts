/**
 * The runtime adapter, process half: arguments, standard streams, signals, exit and
 * subprocesses, for the CLI. Re-exported by `src/runtime/mod.ts`, the one module the rest of oq
 * imports runtime specifics from.
 *
 * @module
 */

import { concatBytes } from "./portable.ts";
import { runtimeName } from "./portable.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

// Process-level services of the `oq` command line (src/cli/): arguments, standard streams,
// signals, subprocesses, exit. The library itself never calls these.

/** Command-line arguments after the executable and script names. */
export function cliArgs(): string[] {
  if (runtimeName() === "deno") return [...g.Deno.args];
  return (g.process?.argv ?? []).slice(2);
}

/** The running executable (`node`, `bun`, `deno`, or a compiled `oq`). */
export function execPath(): string {
  if (runtimeName() === "deno") return g.Deno.execPath();
  return g.process.execPath;
}

/** The current working directory. */
export function currentDir(): string {
  return runtimeName() === "deno" ? g.Deno.cwd() : g.process.cwd();
}

/** This process's id. */
export function processId(): number {
  return runtimeName() === "deno" ? g.Deno.pid : g.process.pid;
}

/** The machine's host name (`localhost` when it cannot be read). */
export async function hostName(): Promise<string> {
  try {
    const os = await import("node:os");
    return os.hostname() || "localhost";
  } catch {
    return "localhost";
  }
}

/** A standard stream of this process. */
export type StdStream = "stdin" | "stdout" | "stderr";

/** True when the stream is a terminal (colours, progress and relative times are for people). */
export function isTerminal(stream: StdStream): boolean {
  try {
    // isatty, not process.stdout.isTTY: creating Bun's stream object switches the descriptor
    // to non-blocking mode, which the terminal (or pipe) shares with other processes.
    const tty = builtin<{ isatty(fd: number): boolean }>("node:tty");
    if (tty) return tty.isatty(FD[stream]);
    if (runtimeName() === "deno") return g.Deno[stream].isTerminal();
    return g.process[stream]?.isTTY === true;
  } catch {
    return false;
  }
}

const FD = { stdin: 0, stdout: 1, stderr: 2 } as const;

interface FsSync {
  writeSync(fd: number, data: Uint8Array, offset?: number, length?: number): number;
}

let fsModule: FsSync | undefined;

/** A Node built-in module, synchronously (`process.getBuiltinModule`: Node 20.16+, Bun, Deno). */
function builtin<T>(name: string): T | undefined {
  return g.process?.getBuiltinModule?.(name) as T | undefined;
}

/**
 * Load what {@link writeStd} needs (`node:fs`), for runtimes without
 * `process.getBuiltinModule`. The CLI calls it once at start.
 */
export async function prepareStdio(): Promise<void> {
  fsModule ??= builtin<FsSync>("node:fs") ?? (await import("node:fs")) as FsSync;
}

let brokenPipe = false;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Write text (or bytes, as they are) to stdout or stderr, synchronously: the call returns when the bytes are in the
 * descriptor (a pipe's buffer, a file, a terminal), so nothing is pending when the process
 * exits and order between the two streams is kept. A pipe whose reader is slow makes the
 * call wait (as a shell tool does); a descriptor left non-blocking by another process
 * (EAGAIN) is retried after short pauses. A closed reader (`oq list | head -1`) ends the
 * process quietly with status 0, as Unix tools do.
 *
 * Runtime streams (`process.stdout.write`) are not used: Bun's buffer them in the process
 * and drop what is left at `process.exit`, its write callback does not mean "written", and
 * Node's flush cannot wait for a reader slower than its time limit.
 */
export function writeStd(stream: "stdout" | "stderr", text: string | Uint8Array): void {
  if (brokenPipe || text.length === 0) return;
  const fs = fsModule ??= builtin<FsSync>("node:fs");
  let bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  let pauseMs = 1;
  while (bytes.length > 0) {
    try {
      const n = fs ? fs.writeSync(FD[stream], bytes) : g.Deno[stream].writeSync(bytes);
      bytes = bytes.subarray(n);
      pauseMs = 1;
    } catch (e) {
      const code = (e as { code?: string })?.code;
      const name = (e as Error)?.name;
      if (code === "EPIPE" || name === "BrokenPipe") {
        brokenPipe = true;
        if (runtimeName() === "deno") g.Deno.exit(0);
        g.process.exit(0);
      }
      if (code === "EINTR" || name === "Interrupted") continue;
      if (code !== "EAGAIN" && name !== "WouldBlock") throw e;
      // Non-blocking descriptor and a full pipe: wait for the reader (no poll(2) here).
      Atomics.wait(sleeper, 0, 0, pauseMs);
      pauseMs = Math.min(pauseMs * 2, 20);
    }
  }
}

/** Read all of stdin (for `-i -`). */
export async function readStdin(): Promise<Uint8Array> {
  if (runtimeName() === "deno") {
    return new Uint8Array(await new Response(g.Deno.stdin.readable).arrayBuffer());
  }
  const chunks: Uint8Array[] = [];
  for await (const c of g.process.stdin) chunks.push(c as Uint8Array);
  return concatBytes(chunks);
}

/**
 * Exit now with `code`. Everything written with {@link writeStd} is already in its
 * descriptor (the writes are synchronous), so nothing is lost through a pipe.
 */
export function exitProcess(code: number): Promise<never> {
  if (runtimeName() === "deno") g.Deno.exit(code);
  g.process.exit(code);
  throw new Error("unreachable");
}

/** The signals that stop a long-running command. */
export type TermSignal = "SIGINT" | "SIGTERM";

/**
 * Call `listener` on SIGINT and SIGTERM instead of dying (the default action is replaced
 * while a listener is installed). Returns a function that removes the listener.
 */
export function onTermSignals(listener: (signal: TermSignal) => void): () => void {
  const signals: TermSignal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((s) => [s, () => listener(s)] as const);
  for (const [s, h] of handlers) {
    if (runtimeName() === "deno") g.Deno.addSignalListener(s, h);
    else g.process.on(s, h);
  }
  return () => {
    for (const [s, h] of handlers) {
      if (runtimeName() === "deno") g.Deno.removeSignalListener(s, h);
      else g.process.off(s, h);
    }
  };
}

/** Options of {@link spawnProcess}. */
export interface SpawnOptions {
  /** The executable (looked up in PATH). */
  command: string;
  /** Its arguments. */
  args?: string[];
  /** Variables added to (or replacing those of) this process's environment. */
  env?: Record<string, string>;
  /** Working directory. @default the current one */
  cwd?: string;
  /**
   * Written to the child's stdin, which is then closed; a stream is written as it is read,
   * waiting for the child to take each chunk (never held whole). A child that exits or
   * closes its stdin early ends the writing quietly. @default stdin is closed at once
   */
  stdin?: Uint8Array | string | ReadableStream<Uint8Array>;
  /** Receives stdout chunks; without it stdout is discarded. */
  onStdout?: (chunk: Uint8Array) => void;
  /** Receives stderr chunks; without it stderr is discarded. */
  onStderr?: (chunk: Uint8Array) => void;
  /**
   * Start the child in its own process group, so that {@link Subprocess.kill} reaches
   * everything it started (a shell's children too). @default false
   */
  newProcessGroup?: boolean;
}

/** How a subprocess ended: an exit code, or the signal that killed it. */
export interface ProcessStatus {
  /** Exit code, `null` when killed by a signal. */
  code: number | null;
  /** The signal that killed it (e.g. `"SIGTERM"`), or `null`. */
  signal: string | null;
}

/** A running subprocess. */
export interface Subprocess {
  /** Process id. */
  readonly pid: number;
  /** Settles when it has ended and its output has been delivered; rejects if it could not start. */
  readonly exited: Promise<ProcessStatus>;
  /** Send a signal (to the whole process group when started with `newProcessGroup`). */
  kill(signal?: "SIGTERM" | "SIGKILL" | "SIGINT"): boolean;
}

interface ChildStdin {
  write(chunk: Uint8Array): boolean;
  end(): void;
  once(event: "drain" | "close" | "error", f: () => void): void;
  readonly destroyed: boolean;
}

// Write a stream to a child's stdin with backpressure; stop (and cancel the stream) when the
// child's stdin closes first, or the stream fails.
async function pipeToStdin(
  stream: ReadableStream<Uint8Array>,
  stdin: ChildStdin | null | undefined,
): Promise<void> {
  const reader = stream.getReader();
  try {
    for (;;) {
      if (!stdin || stdin.destroyed) break;
      const r = await reader.read();
      if (r.done) break;
      if (!stdin.write(r.value)) {
        await new Promise<void>((resolve) => {
          stdin.once("drain", resolve);
          stdin.once("close", resolve);
          stdin.once("error", resolve);
        });
      }
    }
  } catch {
    // The source failed: the child sees its input end early.
  } finally {
    await reader.cancel().catch(() => undefined);
    if (stdin && !stdin.destroyed) stdin.end();
  }
}

/**
 * Start a subprocess (node:child_process, which Deno and Bun implement too).
 *
 * @example
 * ```ts ignore
 * const p = await spawnProcess({ command: "/bin/sh", args: ["-c", "cat"], stdin: "hi", onStdout: (c) => {} });
 * const { code } = await p.exited;
 * ```
 */
export async function spawnProcess(o: SpawnOptions): Promise<Subprocess> {
  const cp = await import("node:child_process");
  const env = { ...(g.process?.env ?? {}), ...(o.env ?? {}) };
  if (runtimeName() === "deno") Object.assign(env, g.Deno.env.toObject(), o.env ?? {});
  const child = cp.spawn(o.command, o.args ?? [], {
    cwd: o.cwd,
    env,
    detached: o.newProcessGroup ?? false,
    stdio: ["pipe", o.onStdout ? "pipe" : "ignore", o.onStderr ? "pipe" : "ignore"],
  });
  let ended = false;
  const exited = new Promise<ProcessStatus>((resolve, reject) => {
    child.once("error", (e) => {
      ended = true;
      reject(e);
    });
    child.once("exit", () => (ended = true));
    child.once("close", (code, signal) => resolve({ code, signal: signal ?? null }));
  });
  child.stdin?.on("error", () => {}); // the child may exit without reading its input
  if (o.stdin instanceof ReadableStream) void pipeToStdin(o.stdin, child.stdin);
  else if (o.stdin !== undefined) child.stdin?.end(o.stdin);
  else child.stdin?.end();
  if (o.onStdout) child.stdout?.on("data", (c: Uint8Array) => o.onStdout!(new Uint8Array(c)));
  if (o.onStderr) child.stderr?.on("data", (c: Uint8Array) => o.onStderr!(new Uint8Array(c)));
  const pid = child.pid ?? -1;
  return {
    pid,
    exited,
    kill(signal = "SIGTERM") {
      // A group outlives its leader while a member (e.g. a background job) still runs.
      if (pid <= 0 || (ended && !o.newProcessGroup)) return false;
      try {
        // process.kill, not child.kill: Deno's child.kill records the signal as the cause
        // of death at once, and then reports a child that handled it and exited 0 as killed.
        g.process.kill(o.newProcessGroup ? -pid : pid, signal);
        return true;
      } catch {
        return false;
      }
    },
  };
}
