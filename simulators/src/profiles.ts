import type { ChannelPreference } from '@devicegate/device-client';

/**
 * The kinds of device in a simulated fleet. Each is its own OAuth client on the appliance (its
 * own scope, lifetime and interval), waits for the outcome on its own push channel, and is
 * approved in its own way: a TV shows a QR code people scan; a translator's and a note-taker's
 * codes are typed; a headless CLI prints a code and only polls (RFC 8628 §3.4, no push at all).
 */
export const PROFILE_NAMES = ['tv', 'translator', 'notetaker', 'cli'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface DeviceProfile {
  name: ProfileName;
  /** The client_id devices of this kind use, unless mapped to another one. */
  defaultClientId: string;
  /** Shown to people on the consent page. */
  clientName: string;
  scope: string;
  /** The channel this kind of device waits on when the fleet's channel is `mix`. */
  channel: ChannelPreference;
  deviceName(index: number): string;
  deviceModel: string;
  /** How people get to the pages from this device: scanning its QR code, or typing its code. */
  approvedVia: 'qr' | 'typed';
}

export const PROFILES: Record<ProfileName, DeviceProfile> = {
  tv: {
    name: 'tv',
    defaultClientId: 'sim-tv',
    clientName: 'Simulated TV',
    scope: 'openid profile offline_access',
    channel: 'websocket',
    deviceName: (index) => `Living room TV ${index}`,
    deviceModel: 'SimTV 55',
    approvedVia: 'qr',
  },
  translator: {
    name: 'translator',
    defaultClientId: 'sim-translator',
    clientName: 'Simulated translator',
    scope: 'openid offline_access',
    channel: 'mqtt',
    deviceName: (index) => `Pocket translator ${index}`,
    deviceModel: 'SimTranslate 2',
    approvedVia: 'typed',
  },
  notetaker: {
    name: 'notetaker',
    defaultClientId: 'sim-notetaker',
    clientName: 'Simulated note-taker',
    scope: 'openid profile email offline_access',
    // auto: the client library picks WebSocket when offered, else MQTT.
    channel: 'auto',
    deviceName: (index) => `Meeting room note-taker ${index}`,
    deviceModel: 'SimNotes Pi',
    approvedVia: 'typed',
  },
  cli: {
    name: 'cli',
    defaultClientId: 'sim-cli',
    clientName: 'Simulated CLI',
    scope: 'openid offline_access',
    channel: 'poll',
    deviceName: (index) => `build-agent-${index}`,
    deviceModel: 'headless',
    approvedVia: 'typed',
  },
};

/** Every scope some profile asks for: what a provisioned simulation client must allow. */
export const ALL_PROFILE_SCOPES = [...new Set(PROFILE_NAMES.flatMap((name) => PROFILES[name].scope.split(' ')))];
