// The conformance suite against real S3-compatible servers started by scripts/servers.sh.
import { cephBackend, minioBackend, motoBackend } from "./backends.ts";
import { storeConformance } from "./store_conformance.ts";

storeConformance(motoBackend());
storeConformance(cephBackend());
storeConformance(await minioBackend());
