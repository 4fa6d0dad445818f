// The firmware daemon's digsigserver-compatible HTTP API (default 127.0.0.1:9999), as a service of
// lib/server/serve-http.ts: the endpoint table (one upload route per format), /health, the vendor
// endpoints it answers 501, and error replies. Field names, defaults and reply shapes follow
// digsigserver (docs/firmware-http.md lists every public class call and what it gets).
import crypto from 'node:crypto';
import { DaemonError } from '../../../lib/errors.js';
import { HTTP_STATUS } from '../../../lib/protocol/http-status.js';
import type { HttpReply, HttpService, UploadRoute } from '../../../lib/server/http-service.js';
import { FIRMWARE_BUSY_RETRY_AFTER_S_MAX, FIRMWARE_BUSY_RETRY_AFTER_S_MIN, type FirmwareHttpLimits } from '../firmware-limits.js';
import type { KeyRoot } from '../keys/key-root.js';
import { fitImageRoute } from './fitimage-route.js';
import { imxRoute } from './imx-route.js';
import { menderRoute } from './mender-route.js';
import { modulesRoute } from './modules-route.js';
import { opteeRoute } from './optee-route.js';
import { swupdateRoute } from './swupdate-route.js';
import { uefiRoute } from './uefi-route.js';

export interface FirmwareHttpDeps {
  keyRoot: KeyRoot;
  limits: FirmwareHttpLimits;
  /** --mender-artifact-root, resolved; null refuses artifact-uri requests. */
  menderArtifactRoot: string | null;
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

export function createFirmwareHttpService(deps: FirmwareHttpDeps): HttpService {
  const { keyRoot, limits } = deps;
  const routes: Record<string, UploadRoute> = {
    '/sign/modules': modulesRoute(keyRoot, limits),
    '/sign/swupdate': swupdateRoute(keyRoot, limits),
    '/sign/mender': menderRoute(keyRoot, limits, deps.menderArtifactRoot),
    '/sign/optee': opteeRoute(keyRoot, limits),
    '/sign/tegra/uefi': uefiRoute(keyRoot, limits),
    // Earlier revisions of meta-tegra-signing-server's UEFI class post here; also the generic (non-Tegra) form.
    '/sign/uefi': uefiRoute(keyRoot, limits),
    '/sign/imx': imxRoute(keyRoot, limits),
    '/sign/fitimage': fitImageRoute(keyRoot, limits),
  };
  return {
    upload(head) {
      const path = head.path.replace(/\/+$/, '') || '/';
      if (path === '/health') {
        if (head.method !== 'GET' && head.method !== 'HEAD') throw new DaemonError('METHOD_NOT_ALLOWED', 'use GET', { allow: ['GET', 'HEAD'] });
        return null;
      }
      const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
      const vendor = Object.hasOwn(VENDOR_ROUTES, path) ? VENDOR_ROUTES[path] : undefined;
      if (!route && !vendor) throw new DaemonError('NOT_FOUND', 'no such endpoint');
      if (head.method !== 'POST') throw new DaemonError('METHOD_NOT_ALLOWED', 'use POST', { allow: ['POST'] });
      if (vendor) throw new DaemonError('NOT_IMPLEMENTED', vendor);
      return route!;
    },
    // Only /health is read whole (upload() sends everything else to its route or refuses it).
    handle: async () => ({ status: 200, headers: TEXT, body: 'OK' }),
    formatError(err): HttpReply {
      const headers: Record<string, string> = { ...TEXT };
      // The classes' `curl --retry 4` retries a 503 and honours Retry-After; a fixed value would bring
      // every refused build back at the same moment.
      if (err.code === 'BUSY') headers['retry-after'] = String(crypto.randomInt(FIRMWARE_BUSY_RETRY_AFTER_S_MIN, FIRMWARE_BUSY_RETRY_AFTER_S_MAX + 1));
      return { status: HTTP_STATUS[err.code], headers, body: `${err.message}\n` };
    },
  };
}

/** digsigserver endpoints that run vendor tools this daemon does not ship: 501 naming what is missing. */
const VENDOR_ROUTES: Record<string, string> = {
  '/sign/tegra': 'NVIDIA L4T BSP signing tools (tegraflash.py, tegrasign_v3.py) are not supported by signerd',
  '/sign/tegra/ueficapsule': "UEFI capsules need NVIDIA's GenerateCapsule.py from the L4T BSP, which signerd does not ship",
  '/sign/tegra/ekb': "EKB generation needs NVIDIA's L4T BSP tools, which signerd does not ship",
  // meta-tegra-signing-server's capsule class posts here (digsigserver: /sign/tegra/ueficapsule).
  '/sign/ueficapsule': "UEFI capsules need NVIDIA's GenerateCapsule.py from the L4T BSP, which signerd does not ship",
  '/sign/rk': "Rockchip signing needs Rockchip's rk_sign_tool, which signerd does not ship",
  '/sign/rkoptee-tee': "Rockchip OP-TEE signing needs Rockchip's tools, which signerd does not ship",
  '/sign/rkoptee-ta': "Rockchip OP-TEE TA signing needs Rockchip's tools, which signerd does not ship",
};
