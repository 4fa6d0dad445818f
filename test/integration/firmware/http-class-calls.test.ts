// Every public Yocto class call to a digsigserver, run the way its class runs it (signing_server /
// digsigserver.bbclass's digsig_post: `curl ${DIGSIG_POST_ARGS} --silent --fail -X POST ...`) followed
// by the class's next step. What each call does against signerd must be what the table in
// docs/firmware-http.md says, row for row: the doc lists what was tested here, and nothing else.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { needTools } from '../../helpers/tools.js';
import { DIGSIG_POST_ARGS, digsigPostArgs } from './build-clients.js';
import { DISTRO, MACHINE, run, startFirmwareDaemon, type FirmwareHttp } from './http-fixtures.js';
import { cmsVerify } from './line-fixtures.js';
import { PE_IMAGES } from './uefi-fixtures.js';

const MODULE_MAGIC = Buffer.from('~Module signature appended~\n');
/** The fields every NVIDIA Tegra class call sends first: the machine, the SoC and the L4T version. */
const TEGRA_FORM = ['-F', `machine=${MACHINE}`, '-F', 'soctype=tegra234', '-F', 'bspversion=35.4.1'];

interface Outcome {
  /** The call and the class's next step succeeded: the build task would pass. */
  works: boolean;
  /** HTTP status of the (last) call. */
  status: number;
}

interface ClassCall {
  klass: string;
  call: string;
  endpoint: string;
  run(http: FirmwareHttp, dir: string): Outcome;
}

/** digsig_post <endpoint> <args...>, from `cwd`; resolves to curl's exit code and the HTTP status. */
function digsigPost(http: FirmwareHttp, endpoint: string, args: string[], cwd: string): { code: number | null; status: number } {
  const r = run('curl', [...digsigPostArgs(DIGSIG_POST_ARGS, args), '-w', '%{http_code}', `${http.url}/${endpoint}`], { cwd });
  return { code: r.code, status: Number(r.stdout.toString().trim().slice(-3) || 0) };
}

function ok(cmd: string, args: string[], cwd: string): boolean {
  return run(cmd, args, { cwd }).code === 0;
}

function write(dir: string, files: Record<string, string | Buffer>): void {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
}

const SW_DESCRIPTION = 'software =\n{\n\tversion = "1.0";\n\thardware-compatibility: [ "1.0" ];\n\timages: ( );\n}\n';

/** swupdatesign.bbclass: SWUPDATE_SIGN_TOOL, run by meta-swupdate in ${S} (no DIGSIG_POST_ARGS, no --silent). */
function swupdateSignTool(method: 'RSA' | 'CMS'): ClassCall['run'] {
  return (http, dir) => {
    write(dir, { 'sw-description': SW_DESCRIPTION });
    const r = run(
      'curl',
      [
        '--fail',
        '-X',
        'POST',
        '-F',
        'sw-description=@sw-description',
        '-F',
        `distro=${DISTRO}`,
        '-F',
        `method=${method}`,
        '--output',
        'sw-description.sig',
        '-w',
        '%{http_code}',
        `${http.url}/sign/swupdate`,
      ],
      { cwd: dir },
    );
    const verified =
      method === 'RSA'
        ? ok('openssl', ['dgst', '-sha256', '-verify', http.keys.pub.swupdateRsa, '-signature', 'sw-description.sig', 'sw-description'], dir)
        : cmsVerify('sw-description.sig', 'sw-description', http.keys.pub.cmsCert, { cwd: dir }).code === 0;
    return { works: r.code === 0 && verified, status: Number(r.stdout.toString().trim().slice(-3)) };
  };
}

/** tegrasign / digsigserver-tegra-signing: MANIFEST + the flash package, `tar -x` of the reply. */
function tegraSign(bup: boolean): ClassCall['run'] {
  return (http, dir) => {
    write(dir, { MANIFEST: `DTBFILE=x.dtb\nLNXFILE=boot.img\nBOARDID=3701\n${bup ? 'BUPGENSPECS=fab=000\n' : ''}`, 'boot.img': 'kernel', 'x.dtb': 'dtb' });
    run('tar', ['-c', '-h', '-z', '-f', 'tegrasign-in.tar.gz', 'MANIFEST', 'boot.img', 'x.dtb'], { cwd: dir });
    const post = digsigPost(http, 'sign/tegra', [...TEGRA_FORM, '-F', 'artifact=@tegrasign-in.tar.gz', '--output', 'tegrasign-out.tar.gz'], dir);
    return { works: post.code === 0 && ok('tar', ['-x', '-z', '-f', 'tegrasign-out.tar.gz'], dir), status: post.status };
  };
}

/**
 * digsigserver-uefi-signing: tegra_uefi_{sbsign,split_sign,attach_sign} on a real EFI application, then
 * what consumes it: sbverify for the signed image, openssl cms -verify for the detached signature and for
 * the one appended after the file padded to 2048 bytes.
 */
function uefiSign(endpoint: string, signingType: string, output: string): ClassCall['run'] {
  return (http, dir) => {
    const image = fs.readFileSync(PE_IMAGES[0]!);
    write(dir, { 'BOOTAA64.efi': image });
    const post = digsigPost(
      http,
      endpoint,
      ['-F', `machine=${MACHINE}`, '-F', `signing_type=${signingType}`, '-F', 'artifact=@BOOTAA64.efi', '--output', output],
      dir,
    );
    if (post.code !== 0) return { works: false, status: post.status };
    const cert = http.keys.pub.uefiCert;
    const verifies = (sig: string, content: string) => cmsVerify(sig, content, cert, { cwd: dir }).code === 0;
    if (signingType === 'sbsign')
      return { works: /Signature verification OK/.test(run('sbverify', ['--cert', cert, output], { cwd: dir }).stdout.toString()), status: post.status };
    if (signingType === 'signature') return { works: verifies(output, 'BOOTAA64.efi'), status: post.status };
    const signed = fs.readFileSync(path.join(dir, output));
    const padded = Math.ceil(image.length / 2048) * 2048;
    write(dir, { 'attached.sig': signed.subarray(padded), 'unsigned.efi': image });
    return { works: signed.subarray(0, image.length).equals(image) && verifies('attached.sig', 'unsigned.efi'), status: post.status };
  };
}

/** digsigserver-uefi-capsule-signing: sign_uefi_capsules (the bootloader payload; the kernel one is the same call). */
function uefiCapsule(endpoint: string): ClassCall['run'] {
  return (http, dir) => {
    write(dir, { 'x.bl_only.bup-payload': Buffer.alloc(2048, 0x42) });
    const post = digsigPost(
      http,
      endpoint,
      [...TEGRA_FORM, '-F', 'guid=bf0d4599-20d4-414e-b2c5-3595b1cda402', '-F', 'artifact=@x.bl_only.bup-payload', '--output', './tegra-bl.cap'],
      dir,
    );
    return { works: post.code === 0, status: post.status };
  };
}

const CALLS: ClassCall[] = [
  {
    klass: 'kernel-module-signing.bbclass',
    call: 'sign_modules',
    endpoint: '/sign/modules',
    run(http, dir) {
      write(dir, { 'pkgd/lib/modules/6.1.0/kernel/a.ko': Buffer.alloc(3000, 1), 'pkgd/lib/modules/6.1.0/kernel/.debug/a.ko': 'debug', 'signed/.keep': '' });
      run('tar', ['-C', 'pkgd', '--exclude=*/.debug/*', '-c', '-z', '-f', 'signed/modules-in.tar.gz', 'lib/modules'], { cwd: dir });
      const post = digsigPost(
        http,
        'sign/modules',
        ['-F', `machine=${MACHINE}`, '-F', 'hashalg=sha512', '-F', 'artifact=@signed/modules-in.tar.gz', '--output', 'signed/modules-out.tar.gz'],
        dir,
      );
      const extracted = post.code === 0 && ok('tar', ['-C', 'pkgd', '-x', '--no-same-owner', '-f', 'signed/modules-out.tar.gz', './lib/modules'], dir);
      const module = fs.readFileSync(path.join(dir, 'pkgd/lib/modules/6.1.0/kernel/a.ko'));
      return { works: extracted && module.subarray(-MODULE_MAGIC.length).equals(MODULE_MAGIC), status: post.status };
    },
  },
  { klass: 'swupdatesign.bbclass', call: 'SWUPDATE_SIGN_TOOL, SWUPDATE_SIGNING_METHOD = "RSA"', endpoint: '/sign/swupdate', run: swupdateSignTool('RSA') },
  { klass: 'swupdatesign.bbclass', call: 'SWUPDATE_SIGN_TOOL, SWUPDATE_SIGNING_METHOD = "CMS"', endpoint: '/sign/swupdate', run: swupdateSignTool('CMS') },
  {
    klass: 'mendersign.bbclass',
    call: 'mendersign, DIGSIG_SERVER on 127.0.0.1 (artifact-uri=file://)',
    endpoint: '/sign/mender',
    run(http, dir) {
      write(dir, { 'rootfs.ext4': Buffer.alloc(20_000, 0x5a) });
      const deploy = path.join(http.artifactRoot, 'deploy');
      fs.mkdirSync(deploy, { recursive: true });
      const artifact = path.join(deploy, 'image.mender');
      run('mender-artifact', ['write', 'rootfs-image', '-n', 'release-1', '-t', 'qemux86-64', '-f', 'rootfs.ext4', '-o', artifact, '--no-progress'], {
        cwd: dir,
      });
      const post = digsigPost(http, 'sign/mender', ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${artifact}`], dir);
      return { works: post.code === 0 && ok('mender-artifact', ['validate', artifact, '-k', http.keys.pub.menderRsa], dir), status: post.status };
    },
  },
  {
    klass: 'mendersign.bbclass',
    call: 'mendersign, any other DIGSIG_SERVER (artifact-uri=s3://)',
    endpoint: '/sign/mender',
    run(http, dir) {
      // The class copies the artifact to its S3 temp store with the aws CLI first; the daemon is asked to fetch it.
      const post = digsigPost(
        http,
        'sign/mender',
        ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=s3://systems.madison.tempstore/${DISTRO}/0d9c6cf4-5f0e-4f4e-9d56-1b4c3c5d1e2f`],
        dir,
      );
      return { works: post.code === 0, status: post.status };
    },
  },
  { klass: 'tegrasign.bbclass', call: 'tegraflash_custom_sign_pkg', endpoint: '/sign/tegra', run: tegraSign(false) },
  { klass: 'tegrasign.bbclass', call: 'tegraflash_custom_sign_bup', endpoint: '/sign/tegra', run: tegraSign(true) },
  { klass: 'digsigserver-tegra-signing.bbclass', call: 'tegraflash_custom_sign_pkg', endpoint: '/sign/tegra', run: tegraSign(false) },
  { klass: 'digsigserver-tegra-signing.bbclass', call: 'tegraflash_custom_sign_bup', endpoint: '/sign/tegra', run: tegraSign(true) },
  {
    klass: 'digsigserver-uefi-signing.bbclass',
    call: 'tegra_uefi_sbsign',
    endpoint: '/sign/tegra/uefi',
    run: uefiSign('sign/tegra/uefi', 'sbsign', 'BOOTAA64.efi'),
  },
  {
    klass: 'digsigserver-uefi-signing.bbclass',
    call: 'tegra_uefi_split_sign',
    endpoint: '/sign/tegra/uefi',
    run: uefiSign('sign/tegra/uefi', 'signature', 'BOOTAA64.efi.sig'),
  },
  {
    klass: 'digsigserver-uefi-signing.bbclass',
    call: 'tegra_uefi_attach_sign',
    endpoint: '/sign/tegra/uefi',
    run: uefiSign('sign/tegra/uefi', 'attach_signature', 'BOOTAA64.efi.signed'),
  },
  {
    klass: 'digsigserver-uefi-signing.bbclass',
    call: 'tegra_uefi_sbsign (earlier revisions)',
    endpoint: '/sign/uefi',
    run: uefiSign('sign/uefi', 'sbsign', 'BOOTAA64.efi'),
  },
  {
    klass: 'digsigserver-uefi-capsule-signing.bbclass',
    call: 'sign_uefi_capsules',
    endpoint: '/sign/tegra/ueficapsule',
    run: uefiCapsule('sign/tegra/ueficapsule'),
  },
  {
    klass: 'digsigserver-uefi-capsule-signing.bbclass',
    call: 'sign_uefi_capsules (earlier revisions)',
    endpoint: '/sign/ueficapsule',
    run: uefiCapsule('sign/ueficapsule'),
  },
];

const key = (klass: string, call: string, endpoint: string) => `${klass} | ${call} | ${endpoint}`;

/** The rows of the table under "## Public Yocto class calls" in docs/firmware-http.md: key -> works (yes/no). */
function documentedCalls(): Map<string, boolean> {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs/firmware-http.md'), 'utf8');
  const start = doc.indexOf('\n## Public Yocto class calls');
  if (start === -1) return new Map();
  const section = doc.slice(start + 1, doc.indexOf('\n## ', start + 1) === -1 ? undefined : doc.indexOf('\n## ', start + 1));
  const rows = new Map<string, boolean>();
  for (const line of section.split('\n')) {
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.replace(/`/g, '').trim());
    if (cells.length < 5 || !/^(yes|no)\b/.test(cells[4]!)) continue;
    rows.set(key(cells[0]!, cells[2]!, cells[3]!), cells[4]!.startsWith('yes'));
  }
  return rows;
}

t.test(
  'each public class call does against signerd what docs/firmware-http.md says',
  needTools('curl', 'tar', 'openssl', 'mender-artifact', 'sbverify'),
  async (t) => {
    const http = await startFirmwareDaemon(t);
    const documented = documentedCalls();
    t.same([...documented.keys()].sort(), CALLS.map((c) => key(c.klass, c.call, c.endpoint)).sort(), 'the doc lists exactly the calls tested here');
    for (const [i, call] of CALLS.entries()) {
      const name = key(call.klass, call.call, call.endpoint);
      const dir = path.join(http.base, `call-${i}`);
      fs.mkdirSync(dir);
      const outcome = call.run(http, dir);
      t.equal(outcome.works, documented.get(name), `${name}: ${outcome.works ? 'works' : `fails (${outcome.status})`}`);
      // A call that does not work must fail the build task clearly: 501 naming what is missing, never a 404 or a hang.
      if (!outcome.works) t.equal(outcome.status, 501, `${name}: 501 Not Implemented`);
    }
  },
);
