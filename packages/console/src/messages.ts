/**
 * The console's one message region: the latest message replaces the previous one, so
 * old messages never linger; successes fade after a while, errors stay until the next
 * message or until dismissed.
 */
import { useEffect, useState } from 'preact/hooks';

export interface Message { id: number; kind: 'success' | 'error' | 'info'; text: string }

let latest: Message | null = null;
let counter = 0;
let timer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<(m: Message | null) => void>();

function publish(message: Message | null): void {
  latest = message;
  for (const listener of listeners) listener(message);
}

export function notify(kind: Message['kind'], text: string): void {
  counter += 1;
  clearTimeout(timer);
  const message = { id: counter, kind, text };
  publish(message);
  if (kind !== 'error') timer = setTimeout(() => latest?.id === message.id && publish(null), 8000);
}

export function dismiss(): void {
  clearTimeout(timer);
  publish(null);
}

export function useMessage(): Message | null {
  const [message, setMessage] = useState(latest);
  useEffect(() => {
    listeners.add(setMessage);
    return () => {
      listeners.delete(setMessage);
    };
  }, []);
  return message;
}
