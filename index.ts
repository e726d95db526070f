/**
 * bayeux-server: a Bayeux (CometD / Faye / Dojo) server for Node.js HTTP servers.
 *
 * The main entry point: the server, the in-memory engine, the HTTP handler with its
 * transports and framework adapters, and the built-in extensions. The Redis engine is
 * `bayeux-server/redis`; the types for writing an engine are `bayeux-server/engine`.
 *
 * @packageDocumentation
 * @module bayeux-server
 */
export { BayeuxServer, type ConnectionTypeRegistration, type EngineStatus } from './lib/server.js';
export type { BayeuxServerEvents } from './lib/events.js';
export { ServerStats, type CountsByTransport } from './lib/server-stats.js';
export { ENGINE_OPERATIONS, type EngineCallCounts, type EngineOperation } from './lib/engines/counting-engine.js';
export type { BayeuxServerOptions, DrainOptions } from './lib/options.js';
export { ServerChannel, type MessageListener, type PublishOptions } from './lib/server-channel.js';
export { ServerSession, type DeliverFields, type Extension, type ExtensionContext, type OutgoingMessage } from './lib/server-session.js';
export { LocalClient, type LocalCallback, type LocalClientEvents } from './lib/local-client.js';
export { memoryEngine } from './lib/engines/memory/memory-engine.js';
export { EngineUnavailableError, type Engine, type SessionRemovedReason } from './lib/engines/engine.js';
export type { Exchange, RequestContext } from './lib/exchange.js';
export { Errors, BayeuxErrorException, type BayeuxError } from './lib/errors.js';
export { ERROR_CODES, type ErrorCode, type CodedError } from './lib/coded-errors.js';
export type { SecurityPolicy, PolicyContext, Authorizer, AuthorizerResult, Operation } from './lib/security.js';
export type { Message, Advice, Reply, Delivery } from './lib/message.js';
export { channelMatches, type ChannelKind } from './lib/channel-name.js';
export { createHandler, type HandlerOptions, type BayeuxHandler } from './transports/http-handler.js';
export type { Transport, HandlerContext } from './transports/transport.js';
export { webSocket, type WebSocketOptions, type WebSocketTransport } from './transports/websocket.js';
export { longPolling, type LongPollingOptions } from './transports/long-polling.js';
export { callbackPolling, type CallbackPollingOptions } from './transports/callback-polling.js';
export { iframeStreaming, type IframeStreamingOptions, type IframeStreamingTransport } from './transports/iframe-streaming.js';
export { eventSource, type EventSourceOptions, type EventSourceTransport } from './transports/event-source.js';
export type { CorsOptions } from './transports/cors.js';
export type { BrowserCookieOptions } from './transports/browser-cookie.js';
export { koaMiddleware, fastifyPlugin, attachToServer, type KoaBayeuxMiddleware } from './transports/adapters.js';
export { publishEndpoint, type PublishEndpoint, type PublishEndpointOptions, type PublishResult } from './transports/publish-endpoint.js';
export type { PublishMessage } from './transports/publish-messages.js';
export { ackExtension } from './extensions/ack.js';
export { timesyncExtension } from './extensions/timesync.js';
