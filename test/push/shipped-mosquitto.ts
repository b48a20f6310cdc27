// Starts a real mosquitto with the configuration the repo ships (deploy/mosquitto), changed only
// where a test must: loopback ports, a temp dir for its files, a throwaway TLS certificate, and
// logs on stderr. The ACL files (or the dynamic security configuration) are used as shipped.
import { execFileSync } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { freePort } from '../support/ports.ts';

const deployDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/mosquitto');

export const APPLIANCE_USERNAME = 'devicegate';

export function opensslAvailable(): boolean {
  return existsSync('/usr/bin/openssl');
}

/** A password file line as `mosquitto_passwd` writes it: PBKDF2-SHA512, 101 rounds ($7$). */
function passwordFileLine(username: string, password: string): string {
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(password, salt, 101, 64, 'sha512');
  return `${username}:$7$101$${salt.toString('base64')}$${hash.toString('base64')}\n`;
}

/** A self-signed certificate for 127.0.0.1, for the device listener's TLS. */
function selfSignedCertificate(): { certificate: string; key: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'devicegate-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { certificate: readFileSync(path.join(dir, 'cert.pem'), 'utf8'), key: readFileSync(path.join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ShippedMosquitto {
  broker: Mosquitto;
  /** Where devices connect: mqtts://127.0.0.1:<device port>. */
  deviceUrl: string;
  /** Where the appliance connects: mqtt://127.0.0.1:<appliance port>. */
  applianceUrl: string;
  appliancePassword: string;
  /** The CA devices trust (the self-signed certificate itself). */
  ca: string;
  stop(): Promise<void>;
}

/**
 * A shipped mosquitto configuration made runnable in a temp dir on loopback: the device listener
 * on the test's port, the appliance listener on `appliancePort`, files under {{DIR}}, logs on
 * stderr. Every pattern must still match, so the test fails loudly when the shipped file drifts.
 */
function adaptShippedConfig(file: string, appliancePort: number, filePaths: Array<[RegExp, string]>): string {
  const replacements: Array<[RegExp, string]> = [
    [/^listener 8883$/m, 'listener {{PORT}} 127.0.0.1'],
    [/^listener 1884 127\.0\.0\.1$/m, `listener ${appliancePort} 127.0.0.1`],
    ...filePaths,
    [/\/etc\/mosquitto\/certs\//g, '{{DIR}}/'],
    [/^persistence_location .*$/m, 'persistence_location {{DIR}}/'],
    [/^log_dest syslog$/m, 'log_dest stderr'],
  ];
  let configText = readFileSync(file, 'utf8');
  for (const [pattern, replacement] of replacements) {
    const before = configText;
    configText = configText.replace(pattern, replacement);
    if (configText === before) throw new Error(`${path.relative(process.cwd(), file)} changed: ${pattern} no longer matches`);
  }
  return configText;
}

/** One of the configurations the repo ships: its file, where it keeps its files, and what they hold. */
export interface ShippedConfiguration {
  configFile: string;
  /** The file paths of the shipped configuration, moved into the temp dir ({{DIR}}). */
  filePaths: Array<[RegExp, string]>;
  /** The files it reads besides the certificate, given the appliance's broker password. */
  files(appliancePassword: string): Record<string, string>;
}

/** deploy/mosquitto: password file and ACL files keyed to the push key (push.mqttAuth = acl). */
const aclConfiguration: ShippedConfiguration = {
  configFile: path.join(deployDir, 'mosquitto.conf'),
  filePaths: [[/\/etc\/mosquitto\/devicegate\//g, '{{DIR}}/']],
  files: (appliancePassword) => ({
    'devices.acl': readFileSync(path.join(deployDir, 'devices.acl'), 'utf8'),
    'appliance.acl': readFileSync(path.join(deployDir, 'appliance.acl'), 'utf8'),
    'appliance.passwd': passwordFileLine(APPLIANCE_USERNAME, appliancePassword),
  }),
};

/** deploy/mosquitto/dynsec: the dynamic security plugin (push.mqttAuth = dynsec). */
export const dynsecConfiguration: ShippedConfiguration = {
  configFile: path.join(deployDir, 'dynsec', 'mosquitto.conf'),
  filePaths: [[/\/var\/lib\/mosquitto\/dynamic-security\.json/g, '{{DIR}}/dynamic-security.json']],
  files: (appliancePassword) => ({ 'dynamic-security.json': initialDynsecFile(appliancePassword) }),
};

/** The initial plugin file as an operator makes it: `mosquitto_ctrl dynsec init FILE devicegate PASSWORD`. */
function initialDynsecFile(password: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'devicegate-dynsec-'));
  try {
    const file = path.join(dir, 'dynamic-security.json');
    execFileSync('mosquitto_ctrl', ['dynsec', 'init', file, APPLIANCE_USERNAME, password], { stdio: 'ignore' });
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startShippedMosquitto(shipped: ShippedConfiguration = aclConfiguration): Promise<ShippedMosquitto> {
  const appliancePort = await freePort();
  const appliancePassword = randomBytes(18).toString('base64url');
  const { certificate, key } = selfSignedCertificate();
  const configText = adaptShippedConfig(shipped.configFile, appliancePort, shipped.filePaths);
  const broker = await startMosquitto({
    configText,
    extraFiles: { ...shipped.files(appliancePassword), 'devicegate.crt': certificate, 'devicegate.key': key },
  });
  return {
    broker,
    deviceUrl: `mqtts://127.0.0.1:${broker.port}`,
    applianceUrl: `mqtt://127.0.0.1:${appliancePort}`,
    appliancePassword,
    ca: certificate,
    stop: () => broker.stop(),
  };
}
