// Manual redaction by selecting text: fills the span fields of that message's form.
// Offsets count characters of the original text (the highlight marks add none).
(function () {
  "use strict";

  function offsetIn(root, node, offset) {
    var range = document.createRange();
    range.setStart(root, 0);
    range.setEnd(node, offset);
    return range.toString().length;
  }

  function onSelect() {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) { return; }
    var range = selection.getRangeAt(0);
    var root = range.commonAncestorContainer;
    while (root && !(root.classList && root.classList.contains("original"))) { root = root.parentNode; }
    if (!root) { return; }
    var start = offsetIn(root, range.startContainer, range.startOffset);
    var end = offsetIn(root, range.endContainer, range.endOffset);
    if (end <= start) { return; }
    var form = document.querySelector('form.manual-redaction[data-message-id="' + root.dataset.messageId + '"]');
    if (!form) { return; }
    form.querySelector(".span-start").value = start;
    form.querySelector(".span-end").value = end;
    form.querySelector(".span-selected").value = root.textContent.slice(start, end);
    form.querySelector(".selection-preview").textContent = "“" + root.textContent.slice(start, end) + "”";
    form.querySelector(".span-label").focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".curation-transcript .original").forEach(function (el) {
      el.addEventListener("mouseup", onSelect);
      el.addEventListener("keyup", onSelect);
    });
  });
})();
