// The TV app: a remote with arrow keys and OK is all it needs. No framework; the device client's
// browser build does the OAuth part (devicegate-device-client.js, copied here at build time).
import { createBrowserDeviceClient } from './devicegate-device-client.js';

/** Key codes of TV remotes beside the keyboard's names: webOS and Tizen send these. */
const KEYS = { left: ['ArrowLeft', 37], up: ['ArrowUp', 38], right: ['ArrowRight', 39], down: ['ArrowDown', 40], ok: ['Enter', 13] };
const is = (event, name) => KEYS[name].includes(event.key) || KEYS[name].includes(event.keyCode);

const config = await (await fetch('config.json', { cache: 'no-store' })).json();
const client = createBrowserDeviceClient({ issuer: config.issuer, clientId: config.clientId, scope: config.scope });
let current;
let signInAbort;

const $ = (screen, selector) => document.querySelector(`#${screen} ${selector}`);
const status = (screen, text) => ($(screen, '[data-status]').textContent = text);

function show(screen) {
  for (const section of document.querySelectorAll('.screen')) section.hidden = section.id !== screen;
  current = screen;
  focusables()[0]?.focus();
}

const focusables = () => [...document.querySelectorAll(`#${current} button:not([disabled])`)];

// Spatial navigation for a row of buttons: left/up go back, right/down go on, OK presses.
document.addEventListener('keydown', (event) => {
  const items = focusables();
  if (items.length === 0) return;
  const index = items.indexOf(document.activeElement);
  if (is(event, 'ok')) {
    event.preventDefault();
    (index >= 0 ? items[index] : items[0]).click();
    return;
  }
  const step = is(event, 'left') || is(event, 'up') ? -1 : is(event, 'right') || is(event, 'down') ? 1 : 0;
  if (step === 0) return;
  event.preventDefault();
  items[index < 0 ? 0 : (index + step + items.length) % items.length].focus();
});

const shortAddress = (uri) => uri.replace(/^https?:\/\//, '');
const clock = (seconds) => `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;

async function startSignIn() {
  signInAbort?.abort();
  const abort = new AbortController();
  signInAbort = abort;
  status('welcome', 'Getting a code…');
  let signIn;
  try {
    signIn = await client.signIn({ signal: abort.signal, deviceName: 'Living room TV (web)' });
  } catch (error) {
    show('welcome');
    status('welcome', `Sign-in is not available right now (${error.message}).`);
    return;
  }
  $('code', '[data-user-code]').textContent = signIn.userCode;
  $('code', '[data-address]').textContent = shortAddress(signIn.verificationUri);
  $('code', '[data-qr]').innerHTML = await signIn.qrSvg();
  status('code', '');
  show('code');
  signIn.on('countdown', (event) => ($('code', '[data-countdown]').textContent = `The code expires in ${clock(event.secondsLeft)}`));
  signIn.on('approved', () => status('code', 'Approved – signing in…'));
  signIn.on('denied', () => status('code', 'Sign-in was declined on the phone. Get a new code to try again.'));
  signIn.on('expired', () => status('code', 'The code expired. Get a new code to try again.'));
  try {
    await signIn.wait();
  } catch (error) {
    if (abort.signal.aborted) return;
    if (error.code !== 'access_denied' && error.code !== 'expired_token') status('code', `Sign-in failed (${error.message}). Get a new code to try again.`);
    return;
  }
  await showSignedIn();
}

async function showSignedIn() {
  show('signed-in');
  $('signed-in', '[data-notes]').replaceChildren();
  const userinfo = await client.fetchWithToken(`${config.issuer}/oauth/userinfo`).then((response) => (response.ok ? response.json() : {}), () => ({}));
  $('signed-in', '[data-who]').textContent = userinfo.name ? `Hello, ${userinfo.name}.` : 'Hello.';
}

async function callApi() {
  status('signed-in', 'Loading…');
  try {
    const response = await client.fetchWithToken(`${config.api}/notes`);
    if (!response.ok) throw new Error(`the API answered ${response.status}`);
    const body = await response.json();
    $('signed-in', '[data-notes]').replaceChildren(...body.notes.map((note) => Object.assign(document.createElement('li'), { textContent: note.text })));
    status('signed-in', `Notes of ${body.owner}, fetched with a DPoP-bound token.`);
  } catch (error) {
    status('signed-in', `Could not load your notes (${error.message}).`);
  }
}

const actions = {
  start: startSignIn,
  'new-code': startSignIn,
  'call-api': callApi,
  async 'sign-out'() {
    await client.signOut();
    show('welcome');
  },
};
document.addEventListener('click', (event) => {
  const action = event.target.closest?.('[data-action]')?.dataset.action;
  if (action) actions[action]();
});

// Signed in before (tokens and DPoP key survive a reload in IndexedDB): straight to the app.
if (await client.tokens().catch(() => null)) await showSignedIn();
else show('welcome');
document.body.dataset.ready = 'true';
