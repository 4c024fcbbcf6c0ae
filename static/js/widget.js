// Inside an embedded widget (templates/widgets/base.html): tells the host page, and only the host page the server
// validated (data-parent-origin), how tall the widget is and when its link has expired (docs/embedding.md).
// Messages: {source: "tally-widget", type: "resize", widget, height} and {source: "tally-widget", type: "expired",
// widget}. Nothing is posted when the page names no parent origin, and never to "*".
(function () {
  "use strict";

  var MAX_DELAY = 2147483647; // setTimeout's largest delay
  var GRACE = 30000; // after the expiry, the server's answer (HTTP 286 and the expired view) may take a poll
  var body = document.body;
  var widget = body.getAttribute("data-widget") || "";
  var parentOrigin = body.getAttribute("data-parent-origin") || "";
  var framed = window.parent && window.parent !== window;
  var lastHeight = -1;
  var expired = false;
  var expiresAt = Date.parse(body.getAttribute("data-expires-at") || "");
  var skew = 0; // the server's clock minus this browser's, learned from the Date header of htmx's answers
  var skewKnown = false;
  var timer = null;

  function post(message) {
    if (!framed || !parentOrigin) {
      return;
    }
    message.source = "tally-widget";
    message.widget = widget;
    window.parent.postMessage(message, parentOrigin);
  }

  function height() {
    // The root element's box is the content's height (the viewport's height is the iframe's, not the content's).
    return Math.ceil(document.documentElement.getBoundingClientRect().height);
  }

  function resize() {
    var current = height();
    if (current !== lastHeight) {
      lastHeight = current;
      post({type: "resize", height: current});
    }
  }

  function expire() {
    if (expired) {
      return;
    }
    expired = true;
    if (timer !== null) {
      clearTimeout(timer);
    }
    post({type: "expired"});
    // htmx stops a poll answered with HTTP 286; should the server not say so, stop asking after a grace period.
    setTimeout(function () {
      document.querySelectorAll("[hx-trigger*='every']").forEach(function (element) {
        element.removeAttribute("hx-trigger");
      });
    }, GRACE);
  }

  function checkExpiredView() {
    if (!expired && document.querySelector("[data-tally-expired]")) {
      expire();
    }
  }

  function schedule() {
    if (expired || isNaN(expiresAt)) {
      return;
    }
    if (timer !== null) {
      clearTimeout(timer);
    }
    var left = expiresAt - (Date.now() + skew);
    if (left <= 0 && !skewKnown) {
      // The server drew a live widget: this browser's clock is ahead. Its next answer tells the real time.
      return;
    }
    timer = setTimeout(expire, Math.min(Math.max(left, 0), MAX_DELAY));
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var date = xhr ? Date.parse(xhr.getResponseHeader("Date") || "") : NaN;
    if (!isNaN(date)) {
      skew = date + 500 - Date.now(); // the header has whole seconds
      skewKnown = true;
      schedule();
    }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (expired && Date.now() + skew > expiresAt + GRACE) {
      event.preventDefault(); // the link is dead: asking again only gets the expired view
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    checkExpiredView();
    resize();
  });

  if (typeof ResizeObserver === "function") {
    var observer = new ResizeObserver(resize);
    observer.observe(document.documentElement);
    observer.observe(body);
  }
  new MutationObserver(checkExpiredView).observe(body, {childList: true, subtree: true});
  window.addEventListener("load", resize);
  window.addEventListener("resize", resize);

  resize();
  checkExpiredView();
  schedule();
})();
