// The language switch lands on the section being read: both editions number their sections alike
// (anchors sec-1, sec-2, ... written by tools/site.py), so the link gets the current one's anchor.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a.rnnlab-lang");
  if (!link) return;
  let current = null;
  for (const anchor of document.querySelectorAll("[id^='sec-']")) {
    if (anchor.getBoundingClientRect().top <= 80) current = anchor.id;
  }
  if (current) link.href = link.href.split("#")[0] + "#" + current;
});
