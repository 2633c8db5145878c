// The console's one script of its own: says so when a part of the page that refreshes itself
// could not be fetched (the server stopped, the network went), so that a stale page never
// looks live. No inline code: the content security policy allows scripts from here only.
(function () {
  "use strict";
  var lastUpdate = new Date();

  function utcTime(moment) {
    return moment.toISOString().substring(11, 19) + " UTC";
  }

  function banner() {
    return document.getElementById("connection-lost");
  }

  function failed() {
    var shown = banner();
    if (!shown) {
      return;
    }
    shown.querySelector("time").textContent = utcTime(lastUpdate);
    shown.hidden = false;
  }

  // The tab's title says how many things need an operator, so that a tab left open in the
  // background still tells.
  var title = document.title;
  document.addEventListener("htmx:afterSettle", function () {
    var bar = document.getElementById("attention");
    var count = bar ? Number(bar.getAttribute("data-attention-count") || "0") : 0;
    document.title = count > 0 ? "(" + count + ") " + title : title;
  });

  // A form that moves money says what it will do and waits for the operator's yes:
  // data-confirm's "{amount}" is the amount typed, or data-all when none is.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (!question) {
      return;
    }
    var typed = form.querySelector("input[name=amount]");
    var amount = typed && typed.value.trim() ? typed.value.trim() : form.getAttribute("data-all");
    if (!window.confirm(question.replace("{amount}", amount || ""))) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:sendError", failed);
  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail && event.detail.successful) {
      lastUpdate = new Date();
      var shown = banner();
      if (shown) {
        shown.hidden = true;
      }
    }
  });
})();
