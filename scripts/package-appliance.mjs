#!/usr/bin/env node
/**
 * Builds the appliance as a Debian package (docs/deploy.md#the-debian-package):
 *
 *   npm run package                                   amd64 (or this machine's architecture) into dist/packages/
 *   npm run package -- --version 0.2.0-1              another package version (default: package.json's, "-1")
 *   npm run package -- --node /path/to/node           ship that Node binary instead of this machine's
 *   npm run package -- --out /tmp/packages            somewhere else than dist/packages/
 *
 * Self-contained: Debian bookworm's nodejs is 18, older than the appliance supports, so the package
 * carries its own Node binary (this machine's process.execPath unless --node names one) and runs
 * nothing from the system but libc and libstdc++. The code is one esbuild bundle (no tsx, no
 * TypeScript at run time); only the native addons (better-sqlite3, @node-rs/argon2) and the one file
 * read from a package's directory (@simplewebauthn/browser's browser bundle) ship as node_modules.
 *
 * Layout on the target:
 *   /usr/bin/devicegate                       the command (a shell wrapper: config default, privilege drop)
 *   /usr/lib/devicegate/bin/node              the Node runtime
 *   /usr/lib/devicegate/app/                  the bundle, the SQLite checkpoint worker, page assets, locales
 *   /usr/lib/devicegate/node_modules/         native addons built for that Node's ABI
 *   /lib/systemd/system/devicegate.service    deploy/systemd/devicegate.service, adapted to these paths
 *   /etc/devicegate/config.json               conffile (root:devicegate 0640 after install)
 *   /usr/share/doc/devicegate/                copyright, deploy.md
 *   /var/lib/devicegate                       created by postinst: devicegate:devicegate 0700
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { buildDeb } from './lib/deb.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LIB = 'usr/lib/devicegate';

/** Debian architecture names (dpkg-architecture -L) for Node's process.arch. */
const DEBIAN_ARCH = { x64: 'amd64', arm64: 'arm64' };

/**
 * Modules the bundle leaves to node_modules: native addons, which esbuild cannot inline and which
 * must match the shipped Node's ABI (process.versions.modules).
 */
const NATIVE = ['better-sqlite3', '@node-rs/argon2'];

/** Dependencies used only by a package's install script (better-sqlite3 fetches prebuilds with it). */
const INSTALL_ONLY = new Set(['prebuild-install']);

/** Files kept of each shipped package; the rest (C sources, object files, docs) is build residue. */
const KEEP = {
  'better-sqlite3': ['package.json', 'LICENSE', 'lib', 'build/Release/better_sqlite3.node'],
  bindings: ['package.json', 'LICENSE.md', 'bindings.js'],
  'file-uri-to-path': ['package.json', 'LICENSE', 'index.js'],
  '@node-rs/argon2': ['package.json', 'LICENSE', 'index.js'],
  // Only found (createRequire().resolve) to locate its browser bundle, never run on the server.
  '@simplewebauthn/browser': ['package.json', 'LICENSE.md', 'script', 'dist/bundle/index.umd.min.js'],
};

function say(text) {
  if (!process.env.DEVICEGATE_PACKAGE_QUIET) process.stderr.write(`package: ${text}\n`);
}

/** The directory `name` resolves to from `fromDir` (Node's node_modules lookup, upwards). */
function packageDir(name, fromDir) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`cannot find ${name} from ${fromDir}`);
  }
}

/** Copies the listed files of a package (all of it when not listed) into node_modules/<name>. */
function copyPackage(name, fromDir, nodeModules) {
  const source = packageDir(name, fromDir);
  const target = path.join(nodeModules, name);
  const keep = KEEP[name];
  if (!keep) {
    cpSync(source, target, { recursive: true, filter: (file) => !file.slice(source.length).includes('node_modules') });
  } else {
    for (const entry of keep) {
      const from = path.join(source, entry);
      if (!existsSync(from)) continue;
      mkdirSync(path.dirname(path.join(target, entry)), { recursive: true });
      cpSync(from, path.join(target, entry), { recursive: true });
    }
  }
  return source;
}

/** A shipped package and its runtime dependencies (optional ones only when installed). */
function copyWithDependencies(name, fromDir, nodeModules, seen = new Set()) {
  if (seen.has(name) || INSTALL_ONLY.has(name)) return;
  seen.add(name);
  const source = copyPackage(name, fromDir, nodeModules);
  const manifest = JSON.parse(readFileSync(path.join(source, 'package.json'), 'utf8'));
  for (const dependency of Object.keys(manifest.dependencies ?? {})) copyWithDependencies(dependency, source, nodeModules, seen);
  for (const dependency of Object.keys(manifest.optionalDependencies ?? {})) {
    try {
      packageDir(dependency, source);
    } catch {
      continue; // another platform's build, not installed here
    }
    copyWithDependencies(dependency, source, nodeModules, seen);
  }
}

/**
 * The packaged unit: deploy/systemd/devicegate.service (one source for the hardening) with the
 * checkout's paths replaced by the package's. Each replaced line must be there, so a change to the
 * unit that this does not know about fails the build instead of shipping a unit that points at /opt.
 */
export function packagedUnit(text) {
  const replace = (pattern, line) => {
    if (!pattern.test(text)) throw new Error(`deploy/systemd/devicegate.service has no line matching ${pattern}`);
    text = text.replace(pattern, line);
  };
  replace(/^# One devicegate instance per host[^\n]*(\n#[^\n]*)*\n/m, [
    '# Installed by the devicegate Debian package (docs/deploy.md#the-debian-package). Change settings in',
    '# /etc/devicegate/config.json or /etc/devicegate/devicegate.env (DEVICEGATE_* variables, which win),',
    '# not here: override the unit with `systemctl edit devicegate`.',
    '',
  ].join('\n'));
  replace(/^Documentation=.*$/m, 'Documentation=file:/usr/share/doc/devicegate/deploy.md');
  // Optional here (the "-"): the package ships config.json; the env file is for secrets and overrides.
  replace(/^EnvironmentFile=.*$/m, 'EnvironmentFile=-/etc/devicegate/devicegate.env');
  replace(/^WorkingDirectory=.*$/m, 'WorkingDirectory=/var/lib/devicegate');
  replace(/^ExecStart=.*$/m, 'ExecStart=/usr/bin/devicegate serve --config /etc/devicegate/config.json');
  return text;
}

/** The command line the unit runs, for tests that run it without systemd. */
export function unitExecStart(unit) {
  return /^ExecStart=(.*)$/m.exec(unit)[1].split(' ');
}

/**
 * The shipped /etc/devicegate/config.json: the settings a package must fix (state in
 * /var/lib/devicegate, no demo client or user on a server), the rest left to config.ts's defaults.
 */
const CONFIG = {
  host: '127.0.0.1',
  port: 8080,
  dataDir: '/var/lib/devicegate',
  demo: false,
};

// The command on the PATH. It reads /etc/devicegate/config.json unless told otherwise, and when
// root runs an admin command it becomes the devicegate user first (setpriv, util-linux), so files
// the store creates in /var/lib/devicegate stay the service's and its 0600 modes mean something.
const WRAPPER = `#!/bin/sh
# devicegate, from the devicegate Debian package: the bundled appliance on the bundled Node.
set -e
if [ -z "\${DEVICEGATE_CONFIG:-}" ] && [ -r /etc/devicegate/config.json ]; then
  DEVICEGATE_CONFIG=/etc/devicegate/config.json
  export DEVICEGATE_CONFIG
fi
if [ "$(id -u)" = 0 ] && [ -z "\${DEVICEGATE_RUN_AS_ROOT:-}" ] && getent passwd devicegate >/dev/null; then
  exec setpriv --reuid=devicegate --regid=devicegate --init-groups -- \\
    env HOME=/var/lib/devicegate /usr/lib/devicegate/bin/node /usr/lib/devicegate/app/devicegate.mjs "$@"
fi
exec /usr/lib/devicegate/bin/node /usr/lib/devicegate/app/devicegate.mjs "$@"
`;

const POSTINST = `#!/bin/sh
# devicegate postinst (Debian Policy §6.5): the system user, the state directory, the unit.
set -e
if [ "$1" = configure ]; then
  if ! getent passwd devicegate >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/devicegate --no-create-home \\
      --shell /usr/sbin/nologin --comment "devicegate appliance" devicegate
  fi
  mkdir -p /var/lib/devicegate
  chown devicegate:devicegate /var/lib/devicegate
  chmod 0700 /var/lib/devicegate
  # config.json may hold secrets (masterKey, demoPassword, a databaseUrl with its password): readable
  # by the service's group only. Set on first install; later an operator's own choice stays.
  if [ -z "$2" ]; then
    chgrp devicegate /etc/devicegate/config.json
    chmod 0640 /etc/devicegate/config.json
  fi
fi
# Enable and (re)start the unit the way dh_installsystemd does. On an upgrade the restart is what
# runs the new version's store migrations: the appliance migrates its store when it opens it.
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
  if command -v deb-systemd-helper >/dev/null 2>&1; then
    if deb-systemd-helper debian-installed devicegate.service; then
      deb-systemd-helper unmask devicegate.service >/dev/null || true
      if deb-systemd-helper --quiet was-enabled devicegate.service; then
        deb-systemd-helper enable devicegate.service >/dev/null || true
      else
        deb-systemd-helper update-state devicegate.service >/dev/null || true
      fi
    else
      deb-systemd-helper enable devicegate.service >/dev/null || true
    fi
  fi
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    if [ -n "$2" ]; then
      deb-systemd-invoke try-restart devicegate.service >/dev/null || true
    else
      deb-systemd-invoke start devicegate.service >/dev/null || true
    fi
  fi
fi
exit 0
`;

const PRERM = `#!/bin/sh
# devicegate prerm: stop the service before its files go (remove) or are replaced (upgrade: the
# postinst of the new version starts it again, which migrates the store).
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  deb-systemd-invoke stop devicegate.service >/dev/null || true
fi
exit 0
`;

const POSTRM = `#!/bin/sh
# devicegate postrm: "remove" keeps the data, the user and the configuration, so reinstalling picks
# up where it was; only "purge" deletes the state (signing keys, grants, users, audit log). The
# system user stays, as Debian leaves system users in place (files owned by its uid may remain
# elsewhere, such as backups, and a recycled uid would own them).
set -e
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null 2>&1; then
  deb-systemd-helper mask devicegate.service >/dev/null || true
fi
if [ "$1" = purge ]; then
  if command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper purge devicegate.service >/dev/null || true
    deb-systemd-helper unmask devicegate.service >/dev/null || true
  fi
  rm -rf /var/lib/devicegate
  rm -f /etc/devicegate/devicegate.env
  rmdir /etc/devicegate 2>/dev/null || true
fi
exit 0
`;

/** Runs `node -e` with the shipped runtime, in the staged lib directory, when it runs on this machine. */
function checkRuntime(stagedLib, arch) {
  if (DEBIAN_ARCH[process.arch] !== arch) {
    say(`not running the ${arch} Node here (this machine is ${process.arch}); its addons are unchecked`);
    return;
  }
  const node = path.join(stagedLib, 'bin', 'node');
  // The addon loads (the ABI matches) and opens a database; argon2 hashes.
  execFileSync(node, ['-e', [
    "const Database = require('better-sqlite3');",
    "new Database(':memory:').prepare('select 1').get();",
    "require('@node-rs/argon2').hashSync('x');",
  ].join(' ')], { cwd: stagedLib, stdio: ['ignore', 'ignore', 'inherit'] });
  const version = execFileSync(node, [path.join(stagedLib, 'app', 'devicegate.mjs'), '--version'], { cwd: stagedLib, encoding: 'utf8' }).trim();
  say(`shipped runtime ${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()} runs devicegate ${version}`);
}

/**
 * Resolves @devicegate/<name>[/<subpath>] through that workspace's package.json "exports" in the
 * source tree being packaged (node_modules/@devicegate links to this checkout's, which is not the
 * tree when an older release is packaged from git).
 */
function workspacesOf(sourceRoot) {
  return {
    name: 'devicegate-workspaces',
    setup(builder) {
      builder.onResolve({ filter: /^@devicegate\// }, (args) => {
        const [, name, subpath] = /^@devicegate\/([^/]+)(\/.*)?$/.exec(args.path);
        const dir = path.join(sourceRoot, name);
        const exports = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).exports ?? {};
        const target = typeof exports === 'string' ? (subpath ? undefined : exports) : exports[`.${subpath ?? ''}`];
        if (typeof target !== 'string') return { errors: [{ text: `${args.path} is not exported by ${name}/package.json` }] };
        return { path: path.join(dir, target) };
      });
    },
  };
}

/**
 * Builds the package; returns the .deb's path, its size and the installed size.
 * sourceRoot: the tree whose code is packaged (default this checkout; the upgrade test packages
 * an older release from git with it). Dependencies always come from this checkout's node_modules.
 * compression: passed to buildDeb (xz unless given; tests use zstd, which builds in seconds).
 */
export async function buildAppliancePackage(options = {}) {
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const sourceRoot = path.resolve(options.sourceRoot ?? root);
  const arch = options.arch ?? DEBIAN_ARCH[process.arch];
  if (!Object.values(DEBIAN_ARCH).includes(arch)) throw new Error(`--arch must be ${Object.values(DEBIAN_ARCH).join(' or ')}, not ${arch}`);
  if (arch !== DEBIAN_ARCH[process.arch]) {
    // The native addons in node_modules are this machine's builds; another architecture needs
    // better-sqlite3 built for it, which cannot be fetched here (its prebuilds are on GitHub).
    throw new Error(`building for ${arch} on ${process.arch} needs better-sqlite3 and @node-rs/argon2 built for ${arch}: not supported yet`);
  }
  const version = options.version ?? `${manifest.version}-1`;
  if (!/^[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?$/.test(version)) throw new Error(`--version ${version} is not a Debian version (Policy §5.6.12)`);
  const nodeBinary = path.resolve(options.node ?? process.execPath);
  const outDir = path.resolve(options.outDir ?? path.join(root, 'dist', 'packages'));
  const staging = path.resolve(options.stagingDir ?? path.join(outDir, `.staging-devicegate-${arch}`));
  rmSync(staging, { recursive: true, force: true });
  const lib = path.join(staging, LIB);
  const app = path.join(lib, 'app');
  mkdirSync(app, { recursive: true });

  // 1. The code: one ESM bundle of the appliance and the workspace packages and their pure-JS
  //    dependencies; lazily imported parts (OpenTelemetry, PostgreSQL) stay in their own chunks,
  //    loaded only when configured. CommonJS dependencies get require/__dirname through the banner.
  say('bundling appliance/src/main.ts');
  const started = Date.now();
  await build({
    entryPoints: { devicegate: path.join(sourceRoot, 'appliance/src/main.ts') },
    // Third-party modules from this checkout, wherever the source tree is.
    nodePaths: [path.join(root, 'node_modules')],
    outdir: app,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    chunkNames: '[name]-[hash]',
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'linked',
    external: NATIVE,
    banner: {
      js: [
        "import { createRequire as __devicegateRequire } from 'node:module';",
        "import { fileURLToPath as __devicegateFileURLToPath } from 'node:url';",
        "import { dirname as __devicegateDirname } from 'node:path';",
        'const require = __devicegateRequire(import.meta.url);',
        'const __filename = __devicegateFileURLToPath(import.meta.url);',
        'const __dirname = __devicegateDirname(__filename);',
      ].join(' '),
    },
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [workspacesOf(sourceRoot)],
    logLevel: 'warning',
  });
  say(`bundled in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // 2. Files the code reads beside itself (new URL('./…', import.meta.url)), and the worker thread.
  cpSync(path.join(sourceRoot, 'verification-ui/src/assets'), path.join(app, 'assets'), { recursive: true });
  cpSync(path.join(sourceRoot, 'verification-ui/src/locales'), path.join(app, 'locales'), { recursive: true });
  const worker = path.join(sourceRoot, 'server/src/store/sqlite/checkpoint-worker.mjs');
  if (existsSync(worker)) copyFileSync(worker, path.join(app, 'checkpoint-worker.mjs'));

  // 3. node_modules: the native addons (and what they require), @simplewebauthn/browser's bundle.
  const nodeModules = path.join(lib, 'node_modules');
  const seen = new Set();
  for (const name of NATIVE) copyWithDependencies(name, path.join(root, 'server'), nodeModules, seen);
  copyWithDependencies('@simplewebauthn/browser', path.join(root, 'verification-ui'), nodeModules, seen);

  // 4. The runtime without its symbol table and debug sections (about a tenth of the binary), when
  //    strip can read it. The dynamic symbols the addons link against (.dynsym) stay.
  mkdirSync(path.join(lib, 'bin'), { recursive: true });
  const node = path.join(lib, 'bin', 'node');
  try {
    execFileSync('strip', ['--strip-unneeded', '-o', node, nodeBinary], { stdio: 'ignore' });
  } catch {
    copyFileSync(nodeBinary, node);
  }
  chmodSync(node, 0o755);
  checkRuntime(lib, arch);

  // 5. The command, the unit, the configuration, the docs.
  mkdirSync(path.join(staging, 'usr/bin'), { recursive: true });
  writeFileSync(path.join(staging, 'usr/bin/devicegate'), WRAPPER, { mode: 0o755 });
  chmodSync(path.join(staging, 'usr/bin/devicegate'), 0o755);
  const unitDir = path.join(staging, 'lib/systemd/system');
  mkdirSync(unitDir, { recursive: true });
  const unit = packagedUnit(readFileSync(path.join(root, 'deploy/systemd/devicegate.service'), 'utf8'));
  writeFileSync(path.join(unitDir, 'devicegate.service'), unit, { mode: 0o644 });
  mkdirSync(path.join(staging, 'etc/devicegate'), { recursive: true });
  writeFileSync(path.join(staging, 'etc/devicegate/config.json'), `${JSON.stringify(CONFIG, null, 2)}\n`, { mode: 0o644 });
  const doc = path.join(staging, 'usr/share/doc/devicegate');
  mkdirSync(doc, { recursive: true });
  copyFileSync(path.join(root, 'LICENSE'), path.join(doc, 'copyright'));
  copyFileSync(path.join(root, 'docs/deploy.md'), path.join(doc, 'deploy.md'));
  for (const file of [node, path.join(staging, 'usr/bin/devicegate')]) chmodSync(file, 0o755);
  // umask-proof modes: directories 0755, files 0644 unless executable.
  execFileSync('chmod', ['-R', 'u+rwX,go+rX,go-w', staging]);

  // 6. The package.
  const deb = await buildDeb({
    stagingDir: staging,
    control: {
      Package: 'devicegate',
      Version: version,
      Architecture: arch,
      Maintainer: 'devicegate maintainers <devicegate@localhost>',
      // The shipped Node links only these (ldd); Node 20 needs glibc 2.28.
      Depends: ['libc6 (>= 2.28)', 'libstdc++6', 'libgcc-s1', 'passwd', 'util-linux'],
      Section: 'net',
      Priority: 'optional',
      Homepage: 'https://github.com/devicegate/devicegate',
      Description: [
        'OAuth 2.0 device authorization appliance (RFC 8628) with OpenID Connect',
        'devicegate signs devices without a keyboard in: a TV or a sensor shows a code,',
        'a person approves it on their phone, and the device gets its tokens.',
        'This package carries its own Node.js runtime and runs as the devicegate user.',
      ].join('\n'),
    },
    conffiles: ['/etc/devicegate/config.json'],
    scripts: { postinst: POSTINST, prerm: PRERM, postrm: POSTRM },
    outDir,
    compression: options.compression,
  });
  const installedKiB = Number(/^Installed-Size: (\d+)$/m.exec(readFileSync(path.join(staging, 'DEBIAN/control'), 'utf8'))[1]);
  const debBytes = statSync(deb).size;
  if (!options.keepStaging) rmSync(staging, { recursive: true, force: true });
  return { deb, version, arch, debBytes, installedKiB, unit };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { arch: { type: 'string' }, version: { type: 'string' }, node: { type: 'string' }, out: { type: 'string' } },
  });
  try {
    const started = Date.now();
    const built = await buildAppliancePackage({ arch: values.arch, version: values.version, node: values.node, outDir: values.out });
    const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    say(`${path.relative(process.cwd(), built.deb)}: ${mib(built.debBytes)} .deb, ${mib(built.installedKiB * 1024)} installed, built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    process.stderr.write(`package: ${error.message}\n`);
    process.exitCode = 1;
  }
}
