// Test harness in front of the example Worker (bound as APP): `GET /__scheduled` runs its
// scheduled handler through the service binding (`Fetcher.scheduled`, which needs the
// service_binding_extra_handlers flag and `workerd serve --experimental`) and answers with
// the outcome; `GET /__runtime` answers what oq's runtime detection says here (heartbeats
// report it); every other request goes to its fetch handler. Bundled by the test (esbuild).
import { runtimeName } from "../../src/runtime/portable.ts";

export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === "/__runtime") return new Response(runtimeName());
    if (new URL(request.url).pathname === "/__scheduled") {
      const result = await env.APP.scheduled({ scheduledTime: Date.now(), cron: "*/5 * * * *" });
      return Response.json(result);
    }
    return await env.APP.fetch(request);
  },
};
