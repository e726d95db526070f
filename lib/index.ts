/**
 * bayeux-server: a Bayeux (CometD / Faye / Dojo) server for Node.js HTTP servers.
 */
export { BayeuxServer } from './server.js';
export type { BayeuxServerEvents, PublishOptions, ConnectionTypeRegistration } from './server.js';
export type { BayeuxServerOptions, ResolvedOptions } from './options.js';
export { ServerChannel, type MessageListener } from './server-channel.js';
export { ServerSession, type DeliverFields } from './server-session.js';
export { LocalClient, type LocalCallback, type LocalClientEvents } from './local-client.js';
export { MemoryEngine, memoryEngine } from './memory-engine.js';
export { RedisEngine, redisEngine, type RedisEngineOptions, type RedisNodeAddress } from './redis-engine.js';
export { EngineUnavailableError } from './engine.js';
export type {
  Awaitable,
  ClusterEvent,
  ConnectResult,
  Mail,
  Engine,
  EngineConfig,
  EngineListener,
  SessionRemovedReason,
  SubscribeResult,
} from './engine.js';
export type { Exchange, RequestContext } from './exchange.js';
export { Errors, BayeuxErrorException, type BayeuxError } from './errors.js';
export type { Extension, ExtensionContext, OutgoingMessage } from './extension.js';
export type { SecurityPolicy, PolicyContext, Authorizer, AuthorizerResult, Operation } from './security.js';
export { timesyncExtension } from '../extensions/timesync.js';
export { ackExtension } from '../extensions/ack.js';
export { MessageSchema, AdviceSchema, validateMessage } from './message.js';
export type { Message, Advice, Reply, Delivery } from './message.js';
export { parseChannel, expandChannel, channelMatches, META, type ChannelInfo, type ChannelKind } from './channel-name.js';
export { createHandler, type HandlerOptions, type BayeuxHandler } from '../transports/http-handler.js';
export { longPolling, type LongPollingOptions } from '../transports/long-polling.js';
export type { Transport, HandlerContext } from '../transports/transport.js';
export { callbackPolling, type CallbackPollingOptions } from '../transports/callback-polling.js';
export { iframeStreaming, type IframeStreamingOptions, type IframeStreamingTransport } from '../transports/iframe-streaming.js';
export type { CorsOptions } from '../transports/cors.js';
export type { BrowserCookieOptions } from '../transports/browser-cookie.js';
export { expressMiddleware, connectMiddleware, koaMiddleware, fastifyPlugin, attachToServer } from '../transports/adapters/index.js';
