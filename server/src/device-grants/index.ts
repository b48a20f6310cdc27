/**
 * The device grant (RFC 8628) as one module: its states and the one function that decides them
 * (state.ts), what is derived from a device code (keys.ts), the user code (user-code.ts), the
 * pacing of polls (pacing.ts), its transitions (authorize.ts: created; decisions.ts: approved or
 * denied; the device_code grant in ../grants/device-code.ts: redeemed) and the one expiry
 * scheduler (expiry.ts). Stores only store; endpoints, pages and push channels ask here.
 */
export { deviceGrantState, secondsLeft, type DeviceGrantState } from './state.ts';
export { deviceCodeHashOf, pushKeyOf, MAX_DEVICE_CODE_LENGTH } from './keys.ts';
export { createDeviceAuthorizer, type AuthorizedDevice, type DeviceAuthorizer } from './authorize.ts';
export { createApprovalService, type ApprovalService, type PendingApproval } from './decisions.ts';
export { createExpiryScheduler, type ExpiryScheduler } from './expiry.ts';
