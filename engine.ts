/**
 * `bayeux-server/engine`: what it takes to write an engine, the store behind a Bayeux
 * server (sessions, subscriptions, queues, expiry). Implement {@link Engine} and pass it
 * as the server option `engine`; docs/design.md describes the contract in prose.
 *
 * @packageDocumentation
 * @module bayeux-server/engine
 */
export {
  EngineUnavailableError,
  NO_MAIL,
  isPromise,
  type Awaitable,
  type ClusterEvent,
  type ConnectResult,
  type Engine,
  type EngineConfig,
  type EngineHealth,
  type EngineListener,
  type Mail,
  type SessionRemovedReason,
  type SubscribeResult,
} from './lib/engines/engine.js';
