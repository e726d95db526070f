/**
 * The browser side of iframe streaming: a CometD JavaScript client transport, served by
 * the iframe transport at `<mount>/iframe-transport.js` and written out by the build as
 * `dist/iframe-transport.js`. It is kept here as text (not a file read at run time) so that
 * it ships inside both builds and survives bundling of the server.
 *
 * Plain ES5, no dependencies. The text is a `String.raw` template: it must contain no
 * backtick and no dollar-brace; backslashes are fine (they stay as written).
 */
export const IFRAME_CLIENT_SCRIPT: string = String.raw`/*
 * bayeux-server: iframe streaming ("forever frame") for the CometD JavaScript client.
 *
 * Load it after cometd.js, from the Bayeux mount path:
 *
 *   <script src="/cometd/iframe-transport.js"></script>
 *
 * It registers the connection type "iframe", ahead of long-polling, with the page's CometD
 * object: window.cometd (there now, or as soon as the page sets it) and jQuery.cometd. For
 * any other instance call BayeuxIframe.register(cometd) before its handshake.
 *
 * /meta/connect messages are answered through a hidden iframe whose document the server
 * keeps open, one <script> per answer; everything else goes by the client's own
 * long-polling transport (XHR POST). When the server ends a document (its maximum age or
 * size) the next one opens with the connect then pending. Same-origin pages only: the
 * iframe calls functions of its parent window, and the server lets only its own origin
 * frame the document, so a page inside a frame from another origin keeps long-polling.
 *
 * Each document opens with a single-use ticket: the connect (clientId, ext) is POSTed
 * first, and only the ticket appears in the document's URL.
 */
(function (root) {
  'use strict';
  if (!root || !root.document || root.BayeuxIframe) return;
  var document = root.document;
  var TYPE = 'iframe';
  /** The functions each open document calls: BayeuxIframe.tunnels.<name>.deliver / .signoff */
  var tunnels = {};
  var sequence = 0;
  /** Documents that failed in a row (no sign-off, no answer) before the transport gives up on iframes. */
  var MAX_FAILURES = 3;

  function later(fn) {
    root.setTimeout(fn, 0);
  }

  /** Objects made in the iframe's realm are copied into ours, so none keeps a closed document alive. */
  function adopt(messages) {
    return JSON.parse(JSON.stringify(messages));
  }

  /**
   * True when some ancestor frame is on another origin: the document's frame-ancestors
   * 'self' would then block it, and every document would fail.
   */
  function framedCrossOrigin() {
    var location = root.location;
    var ancestors = location.ancestorOrigins;
    if (ancestors) {
      for (var i = 0; i < ancestors.length; i++) {
        if (ancestors[i] !== location.origin) return true;
      }
      return false;
    }
    // No ancestorOrigins (Firefox): reading another origin's location throws.
    try {
      for (var w = root; w !== w.parent; w = w.parent) {
        if (w.parent.location.origin !== location.origin) return true;
      }
      return false;
    } catch (x) {
      return true;
    }
  }

  function isBlank(element) {
    try {
      return element.contentWindow.location.href === 'about:blank';
    } catch (x) {
      return false;
    }
  }

  function IframeTransport() {
    this._type = null;
    this._cometd = null;
    this._url = null;
    /** The open document: { name, element }, or null. */
    this._frame = null;
    /** The client's /meta/connect waiting for its answer: { envelope, timer }, or null. */
    this._pending = null;
    /** A connect answer that came before the client sent its next connect. */
    this._early = null;
    /** Documents that failed since the last answer. */
    this._failures = 0;
    /** Iframes do not work here (MAX_FAILURES in a row): connects go by long-polling. */
    this._broken = false;
  }

  var proto = IframeTransport.prototype;

  // The CometD transport interface (CometD 9; getType() for older clients).
  proto.registered = function (type, cometd) {
    this._type = type;
    this._cometd = cometd;
  };
  proto.unregistered = function () {
    this.reset(true);
    this._type = null;
    this._cometd = null;
  };
  Object.defineProperty(proto, 'type', { get: function () { return this._type; } });
  Object.defineProperty(proto, 'cometd', { get: function () { return this._cometd; } });
  Object.defineProperty(proto, 'url', {
    get: function () { return this._url; },
    set: function (url) { this._url = url; }
  });
  proto.getType = function () {
    return this._type;
  };
  proto.toString = function () {
    return String(this._type);
  };

  proto.accept = function (version, crossDomain) {
    // A document from another origin may not call this page; and the other messages need long-polling.
    return !crossDomain && !this._broken && this._longPolling() !== null && !framedCrossOrigin();
  };

  proto._longPolling = function () {
    var cometd = this._cometd;
    var t = cometd && typeof cometd.findTransport === 'function' ? cometd.findTransport('long-polling') : null;
    return t && t !== this ? t : null;
  };

  proto.send = function (envelope, metaConnect) {
    if (!metaConnect) {
      var lp = this._longPolling();
      if (lp !== null) return lp.send(envelope, false);
      later(function () {
        envelope.onFailure(null, envelope.messages, { reason: 'iframe transport: no long-polling transport registered' });
      });
      return;
    }
    if (this._broken) return this._viaLongPolling(envelope);
    // CometD sends one connect at a time; a stray older one is simply forgotten.
    this._settle();
    this._pending = { envelope: envelope, timer: null };
    var early = this._early;
    if (early !== null) {
      this._early = null;
      var self = this;
      later(function () {
        self._deliver([early]);
      });
      return;
    }
    this._arm();
    if (this._frame === null) this._open(envelope);
  };

  /** Bounds the wait for the pending connect's answer (as long-polling does: timeout + maxNetworkDelay). */
  proto._arm = function () {
    var self = this;
    var cometd = this._cometd;
    var pending = this._pending;
    if (pending.timer !== null) cometd.clearTimeout(pending.timer);
    var delay = (cometd.getAdvice().timeout || 0) + cometd.getConfiguration().maxNetworkDelay;
    pending.timer = cometd.setTimeout(function () {
      if (self._pending !== pending) return;
      self._close();
      self._fail('iframe transport: no /meta/connect answer within ' + delay + ' ms');
    }, delay);
  };

  /** After the iframes failed: this connect, and the following ones, go by long-polling. */
  proto._viaLongPolling = function (envelope) {
    var lp = this._longPolling();
    for (var i = 0; i < envelope.messages.length; i++) envelope.messages[i].connectionType = 'long-polling';
    if (lp !== null) return lp.send(envelope, true);
    later(function () {
      envelope.onFailure(null, envelope.messages, { reason: 'iframe transport: no long-polling transport registered' });
    });
  };

  /** A document failed; after MAX_FAILURES in a row the transport stops using iframes. */
  proto._failed = function (reason) {
    if (++this._failures >= MAX_FAILURES && !this._broken) {
      this._broken = true;
      var pending = this._pending;
      if (pending !== null) {
        // The pending connect goes by long-polling at once instead of failing once more.
        this._settle();
        this._viaLongPolling(pending.envelope);
        return;
      }
    }
    this._fail(reason);
  };

  /** POSTs the connect for a ticket, then opens the document with only the ticket in its URL. */
  proto._open = function (envelope) {
    var self = this;
    var frame = { name: 't' + ++sequence, element: null, xhr: null };
    var url = envelope.url;
    var xhr = new root.XMLHttpRequest();
    frame.xhr = xhr;
    this._frame = frame;
    xhr.open('POST', url + (url.indexOf('?') < 0 ? '?' : '&') + 'transport=iframe', true);
    xhr.setRequestHeader('Content-Type', 'application/json;charset=UTF-8');
    var headers = this._cometd.getConfiguration().requestHeaders;
    if (headers) {
      for (var h in headers) {
        if (Object.prototype.hasOwnProperty.call(headers, h)) xhr.setRequestHeader(h, headers[h]);
      }
    }
    xhr.onload = xhr.onerror = function () {
      if (self._frame !== frame) return;
      frame.xhr = null;
      var ticket = null;
      try {
        if (xhr.status === 200) ticket = JSON.parse(xhr.responseText).ticket;
      } catch (x) {
        ticket = null;
      }
      if (typeof ticket !== 'string') {
        self._close();
        self._failed('iframe transport: ticket request failed (HTTP ' + xhr.status + ')');
        return;
      }
      self._load(frame, url, ticket);
    };
    xhr.send(JSON.stringify([envelope.messages[0]]));
  };

  proto._load = function (frame, url, ticket) {
    var self = this;
    var path = 'BayeuxIframe.tunnels.' + frame.name;
    var src = url + (url.indexOf('?') < 0 ? '?' : '&') + 'transport=iframe' +
      '&ticket=' + encodeURIComponent(ticket) +
      '&callback=' + path + '.deliver&signoff=' + path + '.signoff';
    var element = document.createElement('iframe');
    frame.element = element;
    var name = frame.name;
    tunnels[name] = {
      deliver: function (messages) {
        if (self._frame === frame) {
          self._failures = 0;
          self._deliver(adopt(messages));
        }
      },
      signoff: function (info) {
        if (self._frame === frame) self._signOff(info && info.reason);
      }
    };
    element.setAttribute('aria-hidden', 'true');
    element.tabIndex = -1;
    element.title = 'bayeux';
    element.style.cssText = 'position:absolute;left:-9999px;top:0;width:1px;height:1px;border:0;visibility:hidden';
    element.onload = function () {
      // A document that ends without signing off: the connection broke, or an HTTP error.
      if (self._frame === frame && !isBlank(element)) {
        self._close();
        self._failed('iframe document ended without sign-off');
      }
    };
    element.src = src;
    (document.body || document.documentElement).appendChild(element);
  };

  /** Messages from the document: the connect answer completes the pending connect. */
  proto._deliver = function (messages) {
    if (!Array.isArray(messages)) return;
    var pending = this._pending;
    var envelope = null;
    var others = [];
    for (var i = 0; i < messages.length; i++) {
      var m = messages[i];
      if (m && m.channel === '/meta/connect' && m.data === undefined) {
        if (envelope === null && pending !== null) {
          // The client matches the answer to its connect by id; the server's own connects carry none.
          m.id = pending.envelope.messages[0].id;
          envelope = pending.envelope;
          this._settle();
          others.push(m);
        } else {
          this._early = m;
        }
      } else {
        others.push(m);
      }
    }
    if (envelope !== null) {
      envelope.onSuccess(others);
      return;
    }
    for (var j = 0; j < others.length; j++) {
      try {
        this._cometd.receive(others[j]);
      } catch (x) {
        // one message's failure must not lose the others
      }
    }
  };

  proto._signOff = function (reason) {
    this._close();
    if (this._pending === null) return;
    if (reason === 'error') {
      this._fail('iframe document signed off: ' + reason);
      return;
    }
    // Recycled (maxAge, maxBytes, …): the pending connect opens the next document.
    this._arm();
    this._open(this._pending.envelope);
  };

  proto._settle = function () {
    var pending = this._pending;
    this._pending = null;
    if (pending !== null && pending.timer !== null) this._cometd.clearTimeout(pending.timer);
  };

  proto._fail = function (reason) {
    var pending = this._pending;
    if (pending === null) return;
    this._settle();
    pending.envelope.onFailure(null, pending.envelope.messages, { reason: reason });
  };

  proto._close = function () {
    var frame = this._frame;
    if (frame === null) return;
    this._frame = null;
    // Later: the document may be running the very script that called us.
    if (frame.xhr !== null) frame.xhr.abort();
    later(function () {
      delete tunnels[frame.name];
      if (frame.element !== null && frame.element.parentNode) frame.element.parentNode.removeChild(frame.element);
    });
  };

  proto.reset = function () {
    this._close();
    if (this._cometd !== null) this._settle();
    this._pending = null;
    this._early = null;
  };

  proto.abort = function () {
    this._close();
    this._fail('abort');
    var lp = this._longPolling();
    if (lp !== null) lp.abort();
    this.reset(true);
  };

  /**
   * Registers the transport with a CometD object, just ahead of long-polling (so a
   * websocket transport keeps its place). False when it has one already.
   */
  function register(cometd, index) {
    if (!cometd || typeof cometd.registerTransport !== 'function') return false;
    if (typeof cometd.findTransport === 'function' && cometd.findTransport(TYPE)) return false;
    if (typeof index !== 'number') {
      var types = typeof cometd.getTransportTypes === 'function' ? cometd.getTransportTypes() : [];
      index = types.indexOf('long-polling');
      if (index < 0) index = 0;
    }
    return cometd.registerTransport(TYPE, new IframeTransport(), index) !== false;
  }

  root.BayeuxIframe = { Transport: IframeTransport, register: register, tunnels: tunnels };

  if (root.jQuery && root.jQuery.cometd) register(root.jQuery.cometd);
  if (root.cometd !== undefined) {
    register(root.cometd);
  } else {
    // The page creates its CometD object later (a module script runs after this one): register it when it is set.
    try {
      Object.defineProperty(root, 'cometd', {
        configurable: true,
        enumerable: true,
        get: function () { return undefined; },
        set: function (value) {
          Object.defineProperty(root, 'cometd', { configurable: true, enumerable: true, writable: true, value: value });
          register(value);
        }
      });
    } catch (x) {
      // a frozen window: BayeuxIframe.register(cometd) still works
    }
  }
})(typeof window !== 'undefined' ? window : undefined);
`;
