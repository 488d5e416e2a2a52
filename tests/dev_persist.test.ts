// The data directory of `oq dev --dir`: a format-1 directory (bodies named by their
// SHA-256, shared by identical bodies) is read and upgraded to format 2, and bytes handed to
// the engine directly (not streamed by the server) get a file of their own too.
import { describe } from "node:test";
import { it } from "./helpers.ts";
import assert from "node:assert/strict";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256Hex } from "../src/dev/sigv4_crypto.ts";
import { md5Hex } from "../src/s3/md5.ts";
import type { StoredObject } from "../src/store/types.ts";
import { devStore, removeDir, startTestServer, tempDir } from "./dev_backend.ts";

const T = { timeout: 30_000 };
const enc = new TextEncoder();
const text = (o: unknown) => new TextDecoder().decode((o as StoredObject).body);

async function put(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await writeFile(path, data);
}

describe("oq dev --dir: data format", () => {
  it("reads a format-1 directory, serves it, and upgrades it to format 2", T, async () => {
    const dir = await tempDir();
    try {
      const body = enc.encode("shared body");
      const sha = await sha256Hex(body);
      const b = join(dir, "buckets", "old");
      await put(join(dir, "oq-dev.json"), JSON.stringify({ format: "oq-dev", version: 1 }));
      await put(
        join(b, "bucket.json"),
        JSON.stringify({ name: "old", createdAt: 1, versioning: "Enabled", lifecycle: [] }),
      );
      await put(join(b, "blobs", sha.slice(0, 2), sha), body);
      for (const [key, versionId] of [["a", "000000000001.aa"], ["b", "000000000002.bb"]]) {
        const h = await sha256Hex(key!);
        await put(
          join(b, "objects", h.slice(0, 2), `${h}.json`),
          JSON.stringify({
            key,
            versions: [{
              versionId,
              deleteMarker: false,
              etag: md5Hex(body),
              contentType: "text/plain",
              lastModified: 2,
              size: body.length,
              sha256: sha,
            }],
          }),
        );
      }
      let dev = await startTestServer({ dir });
      const s = devStore(dev.url, "old");
      assert.equal(text(await s.get("a")), "shared body");
      assert.equal(text(await s.get("b")), "shared body");
      const marker = JSON.parse(await readFile(join(dir, "oq-dev.json"), "utf8"));
      assert.equal(marker.version, 2);
      // The shared body stays while one key still names it, and goes with the last.
      const blob = join(b, "blobs", sha.slice(0, 2), sha);
      await s.deleteMany([{ key: "a", versionId: "000000000001.aa" }]);
      assert.ok(await stat(blob), "await stat(blob)");
      await s.deleteMany([{ key: "b", versionId: "000000000002.bb" }]);
      await assert.rejects(stat(blob), /ENOENT/);
      await s.put("c", "new");
      await dev.stop();
      dev = await startTestServer({ dir });
      assert.equal(text(await devStore(dev.url, "old").get("c")), "new");
      await dev.stop();
    } finally {
      await removeDir(dir);
    }
  });

  it(
    "bytes put into the engine directly are written to a file and survive a restart",
    T,
    async () => {
      const dir = await tempDir();
      try {
        let dev = await startTestServer({ dir, bucket: "direct" });
        dev.engine.put("direct", "k", enc.encode("from the engine"));
        await dev.stop();
        dev = await startTestServer({ dir });
        const v = dev.engine.bucket("direct").objects.get("k")![0]!;
        assert.ok(v.blob, "restored as a file");
        assert.equal(v.body.length, 0);
        assert.equal(text(await devStore(dev.url, "direct").get("k")), "from the engine");
        await dev.stop();
      } finally {
        await removeDir(dir);
      }
    },
  );
});
