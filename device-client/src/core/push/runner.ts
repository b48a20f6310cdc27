import { isOutcomeMessage, type GrantOutcome } from '@devicegate/protocol';
import { DeviceClientError, oneLine } from '../errors.ts';
import type { LoginEvent } from '../events.ts';
import { backoffDelay, type Runtime } from '../runtime.ts';
import { PushRefusedError, type PushTransport } from './transport.ts';

/** Reconnect delays: from 1 s, doubling, at most 30 s, with jitter. */
const PUSH_RETRY_BASE_MS = 1_000;
const PUSH_RETRY_CAP_MS = 30_000;

/**
 * Keeps one push channel up until an outcome arrives or `signal` aborts (the login ended). A lost
 * connection is retried with backoff and jitter; polling goes on meanwhile, so a push failure only
 * costs latency, never the login. A refusal by the appliance stops the channel for good.
 */
export async function runPushChannel(options: {
  transport: PushTransport;
  runtime: Runtime;
  signal: AbortSignal;
  emit: (event: LoginEvent) => void;
  onOutcome: (outcome: GrantOutcome) => void;
}): Promise<void> {
  const { transport, runtime, signal, emit } = options;
  const channel = transport.channel;
  let failures = 0;
  while (!signal.aborted) {
    emit({ type: 'channel', channel, state: 'connecting' });
    let outcome: GrantOutcome | undefined;
    const connection = new AbortController();
    const stop = () => connection.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await transport.listen(
        {
          onSubscribed() {
            failures = 0;
            emit({ type: 'channel', channel, state: 'subscribed' });
          },
          onMessage(message) {
            if (outcome || !isOutcomeMessage(message)) return;
            outcome = message.type;
            options.onOutcome(outcome);
            // The outcome is all this channel is for; MQTT would otherwise stay connected.
            connection.abort();
          },
        },
        connection.signal,
      );
      if (outcome || signal.aborted) {
        emit({ type: 'channel', channel, state: 'closed' });
        return;
      }
      failures += 1;
    } catch (error) {
      if (signal.aborted) {
        emit({ type: 'channel', channel, state: 'closed' });
        return;
      }
      const reason = oneLine(error instanceof Error ? error.message : String(error));
      if (error instanceof PushRefusedError) {
        emit({ type: 'channel', channel, state: 'failed', reason });
        emit({ type: 'error', error: new DeviceClientError('push', `${channel} push: ${reason}`), fatal: false });
        return;
      }
      failures += 1;
      emit({ type: 'error', error: new DeviceClientError('push', `${channel} push: ${reason}`), fatal: false });
    } finally {
      signal.removeEventListener('abort', stop);
    }
    const delayMs = backoffDelay(failures, { baseMs: PUSH_RETRY_BASE_MS, capMs: PUSH_RETRY_CAP_MS, random: runtime.random });
    emit({ type: 'channel', channel, state: 'reconnecting', delayMs });
    await runtime.sleep(delayMs, signal);
  }
}
