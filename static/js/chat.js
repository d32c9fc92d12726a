// Streams the AI's reply into the chat page as it is generated.
// The chat form works without this file (plain post, full reply); with it, the same form is
// sent to the streaming endpoint, which answers with server-sent events:
//   patient (stored message), delta (more text), replace (reply replaced), done, error.
// Text is always inserted with textContent, never as HTML.
(function () {
  "use strict";
  var form = document.getElementById("chat-form");
  var transcript = document.getElementById("transcript");
  if (!form || !transcript || !window.fetch || !window.ReadableStream || !window.TextDecoder) return;
  var button = document.getElementById("send");
  var errorBox = document.getElementById("chat-error");
  var textarea = form.querySelector("textarea[name=content]");
  var assistantLabel = transcript.dataset.assistantLabel || "AI reply";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function addMessage(role, label, text) {
    var empty = document.getElementById("transcript-empty");
    if (empty) empty.remove();
    var article = el("article", "message " + role);
    var who = el("header", "who", label);
    var body = el("div", "body", text);
    article.appendChild(who);
    article.appendChild(body);
    transcript.insertBefore(article, document.getElementById("latest"));
    return { article: article, body: body, who: who };
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function showFailure(reply, data) {
    reply.article.classList.add("failed");
    if (!reply.body.textContent) reply.body.remove();
    var box = el("div", "failure");
    box.setAttribute("role", "alert");
    box.appendChild(el("p", "", (data.partial ? "This reply is incomplete. " : "") +
      "The AI couldn't reply: " + data.reason + " Your message is saved."));
    var retry = el("form");
    retry.method = "post";
    retry.action = data.retry_url;
    var token = form.querySelector("input[name=csrfmiddlewaretoken]").cloneNode();
    retry.appendChild(token);
    var retryButton = el("button", "retry", "Retry");
    retryButton.type = "submit";
    retry.appendChild(retryButton);
    box.appendChild(retry);
    reply.article.appendChild(box);
  }

  function handle(event, data, state) {
    if (event === "patient") {
      state.patient.article.dataset.messageId = data.id;
    } else if (event === "delta") {
      state.reply.body.textContent += data.text;
    } else if (event === "replace") {
      state.reply.body.textContent = data.text;
    } else if (event === "done") {
      state.reply.article.dataset.messageId = data.reply_id;
      if (data.provider === "safety") state.reply.who.textContent = "Safety message";
      state.finished = true;
    } else if (event === "error") {
      state.reply.article.dataset.messageId = data.reply_id;
      showFailure(state.reply, data);
      state.finished = true;
    }
  }

  function parse(block) {
    var event = "message", data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) event = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
    });
    return { event: event, data: data ? JSON.parse(data) : {} };
  }

  async function send(content) {
    var state = { finished: false };
    state.patient = addMessage("patient", "You", content);
    state.reply = addMessage("assistant streaming", assistantLabel, "");
    var response;
    try {
      response = await fetch(form.dataset.streamUrl, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "Accept": "text/event-stream" },
      });
    } catch (err) {
      state.patient.article.remove();
      state.reply.article.remove();
      showError("Could not reach the server. Check your connection and try again.");
      return;
    }
    if (!response.ok) {
      state.patient.article.remove();
      state.reply.article.remove();
      var detail = "The message could not be sent (HTTP " + response.status + ").";
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      showError(detail);
      return;
    }
    textarea.value = "";
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    try {
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true });
        var end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          var parsed = parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          handle(parsed.event, parsed.data, state);
        }
      }
    } catch (err) {
      // The connection broke; the server finishes and stores the reply regardless.
    }
    state.reply.article.classList.remove("streaming");
    if (!state.finished) {
      showError("The connection was interrupted. Reload the page to see the stored reply.");
    }
    state.reply.article.scrollIntoView({ block: "nearest" });
  }

  form.addEventListener("submit", async function (submitEvent) {
    submitEvent.preventDefault();
    var content = textarea.value.trim();
    errorBox.hidden = true;
    if (!content) { showError("Write a message first."); return; }
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await send(content);
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
      textarea.focus();
    }
  });

  textarea.addEventListener("keydown", function (keyEvent) {
    if (keyEvent.key === "Enter" && !keyEvent.shiftKey) {
      keyEvent.preventDefault();
      form.requestSubmit();
    }
  });
})();
