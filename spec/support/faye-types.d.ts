/**
 * The part of the Faye 1.4 Node client the specs use (faye ships no types).
 */
declare module 'faye' {
  namespace Faye {
    const VERSION: string;
    /** A Faye promise-like (its `then` only, as Faye's Deferrable offers it). */
    interface Thenable<T = unknown> {
      then(onFulfilled?: (value: T) => unknown, onRejected?: (reason: unknown) => unknown): Promise<unknown>;
    }

    interface FayeMessage {
      channel: string;
      id?: string;
      clientId?: string;
      data?: unknown;
      successful?: boolean;
      error?: string;
      advice?: { reconnect?: string; interval?: number; timeout?: number };
      subscription?: string | string[];
      ext?: Record<string, unknown>;
      [field: string]: unknown;
    }

    interface Extension {
      incoming?(message: FayeMessage, callback: (message: FayeMessage) => void): void;
      outgoing?(message: FayeMessage, callback: (message: FayeMessage) => void): void;
    }

    interface Subscription extends Thenable<void> {
      cancel(): void;
      unsubscribe(): void;
      withChannel(callback: (channel: string, data: unknown) => void): Subscription;
    }

    interface ClientOptions {
      /** Seconds. */
      timeout?: number;
      /** Seconds. */
      interval?: number;
      /** Seconds between resends of a message whose request failed. */
      retry?: number;
      endpoints?: Record<string, string>;
    }

    class Client {
      constructor(endpoint: string, options?: ClientOptions);
      handshake(callback?: () => void, context?: unknown): void;
      connect(callback?: () => void, context?: unknown): void;
      disconnect(): Thenable<void> | undefined;
      subscribe(channel: string, callback?: (data: unknown) => void, context?: unknown): Subscription;
      unsubscribe(channel: string, subscription?: Subscription): void;
      publish(channel: string, data: unknown, options?: { attempts?: number; deadline?: number }): Thenable<void>;
      addExtension(extension: Extension): void;
      removeExtension(extension: Extension): void;
      disable(feature: string): void;
      setHeader(name: string, value: string): void;
      bind(event: 'transport:up' | 'transport:down', listener: () => void): void;
    }
  }

  export = Faye;
}
