// valor-data annotate: live hints while a caption is typed, and keyboard shortcuts. Every page works
// without this file; it only adds to what the server already rendered. Text is always set with
// textContent, never parsed as HTML.
"use strict";

(function () {
  const form = document.getElementById("caption-form");
  const caption = document.getElementById("caption");
  const player = document.getElementById("player");

  function togglePlay() {
    if (!player) return;
    if (player.paused) player.play(); else player.pause();
  }

  document.addEventListener("keydown", (e) => {
    if (e.altKey && (e.key === "p" || e.key === "P")) { e.preventDefault(); togglePlay(); }
    else if (e.altKey && (e.key === "r" || e.key === "R") && player) { e.preventDefault(); player.currentTime = 0; player.play(); }
    else if (e.altKey && (e.key === "a" || e.key === "A") && document.getElementById("accept")) { e.preventDefault(); document.getElementById("accept").checked = true; }
    else if (e.altKey && (e.key === "x" || e.key === "X") && document.getElementById("reject")) { e.preventDefault(); document.getElementById("reject").checked = true; document.getElementById("reason").focus(); }
    else if (e.ctrlKey && e.key === "Enter") {
      const target = form || document.getElementById("verdict-form");
      if (target) { e.preventDefault(); target.requestSubmit(); }
    }
  });

  if (!form || !caption) return;

  function show(hints, text) {
    document.getElementById("hint-words").textContent = hints.words;
    document.getElementById("hint-chars").textContent = text.length;
    document.getElementById("hint-count").textContent = hints.concepts.length;
    const marked = document.getElementById("hint-text");
    marked.replaceChildren();
    let at = 0;
    for (const [start, end, concept] of hints.concepts) {
      if (start < at) continue;
      marked.append(document.createTextNode(text.slice(at, start)));
      const m = document.createElement("mark");
      m.title = concept;
      m.textContent = text.slice(start, end);
      marked.append(m);
      at = end;
    }
    marked.append(document.createTextNode(text.slice(at)));
    document.getElementById("hint-no-sound").hidden = !hints.no_sound;
    document.getElementById("hint-duplicate").hidden = !hints.near_duplicate_of;
    document.getElementById("hint-duplicate-of").textContent = hints.near_duplicate_of || "";
    document.getElementById("hint-similarity").textContent = hints.similarity.toFixed(2);
    document.getElementById("hint-labels").textContent =
      hints.labels_named.length ? "Labels named: " + hints.labels_named.join(", ") : "";
  }

  let timer = null, asked = 0;
  caption.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const text = caption.value, mine = ++asked;
      const body = new URLSearchParams({
        csrf_token: form.elements.csrf_token.value, lease: form.elements.lease.value, text: text,
      });
      try {
        const r = await fetch(form.dataset.hints, { method: "POST", body: body, credentials: "same-origin" });
        if (r.ok && mine === asked) show(await r.json(), text);
      } catch (err) { /* hints are a help; the save works without them */ }
    }, 250);
  });
})();
