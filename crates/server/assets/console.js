// countersign console: the one small script (the CSP forbids inline script).
// Copy buttons put a full digest on the clipboard, and an approve control waiting only
// on the friction time rule is enabled when the time comes; everything else works
// without it (the server checks every rule again).
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b || !navigator.clipboard) return;
  navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () {
    var was = b.textContent;
    b.textContent = "copied";
    setTimeout(function () { b.textContent = was; }, 1200);
  });
});

(function () {
  var box = document.querySelector("[data-ready-at][data-only-time]");
  if (!box) return;
  var wait = Date.parse(box.getAttribute("data-ready-at")) - Date.now();
  setTimeout(function () {
    document.querySelectorAll("[data-friction]").forEach(function (c) { c.disabled = false; });
    var why = document.getElementById("friction-why");
    if (why) why.replaceChildren(Object.assign(document.createElement("li"), { textContent: "You can approve now." }));
    box.classList.remove("waiting");
  }, Math.max(wait, 0) + 250);
})();
