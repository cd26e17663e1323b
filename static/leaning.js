// Progressive enhancement: as answers are ticked, the questionnaire shows which way they lean, fetched from the JSON
// API (its path from the region's data-api) and announced politely. Without JavaScript the region stays hidden.
(() => {
  const region = document.getElementById("leaning");
  const form = region && region.closest("form");
  const api = region && region.dataset.api;
  if (!form || !api || !window.fetch || !window.URLSearchParams) return;

  const DEBOUNCE_MS = 250;
  let timer = 0;
  let latest = 0; // the number of the newest request; only its answer is shown
  let pending = null; // that request's AbortController
  let shown = ""; // the text now shown, so an unchanged leaning is not announced again

  // As recommender/wording.py's percent(): whole numbers, more digits only where rounding would say 0 % or 100 %
  // untruly; Python's round-half-even on exact ties.
  function fixed(value, digits) {
    const scaled = value * 10 ** digits;
    const floor = Math.floor(scaled);
    if (scaled - floor === 0.5) return ((floor % 2 === 0 ? floor : floor + 1) / 10 ** digits).toFixed(digits);
    return value.toFixed(digits);
  }

  function percent(share) {
    if (share <= 0) return "0 %";
    if (share >= 1) return "100 %";
    for (const digits of [0, 1, 2]) {
      const text = fixed(100 * share, digits);
      if (Number(text) > 0 && Number(text) < 100) return `${text} %`;
    }
    return share < 0.5 ? "under 0.01 %" : "over 99.99 %";
  }

  // The query of a share link without `rules=`: answered questions only, in questionnaire order.
  function query() {
    const params = new URLSearchParams();
    form.querySelectorAll("input[type=radio]:checked").forEach((input) => {
      if (input.name && input.value) params.append(input.name, input.value);
    });
    return params.toString();
  }

  function element(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    node.append(...children);
    return node;
  }

  // As recommender/wording.py's open_sentence(), with "It" for the option: what the open questions could change,
  // ending with the one that matters most, as text: a link inside the live region would put a tab stop between the
  // questions and the Recommend button, and appear and move under a keyboard user as answers change.
  function openSentence(share, questions) {
    const count = questions.length;
    let sentence;
    let joiner = "; the one that matters most: ";
    if (count === 1) {
      joiner = ": ";
      sentence = share >= 1 ? "It wins whichever way your open question is answered"
        : `It wins in ${percent(share)} of the ways your open question could be answered`;
    } else if (share >= 1) {
      return element("p", "leaning-open", `It wins in every way your ${count} open questions could be answered.`);
    } else {
      sentence = `It wins in ${percent(share)} of the ways your ${count} open questions could be answered`;
    }
    const fieldset = document.getElementById(`q-${questions[0]}`);
    const legend = fieldset && fieldset.querySelector("legend");
    if (!legend) return element("p", "leaning-open", `${sentence}.`);
    return element("p", "leaning-open", sentence + joiner + legend.textContent.trim());
  }

  // The region's new children for a result document; throws on a document of another shape (the caller keeps the
  // last leaning then).
  function describe(doc) {
    if (doc.closeness === "unanswered") return [element("p", "", "Answer a question to see which way it leans.")];
    if (typeof doc.headline !== "string" || typeof doc.recommendation !== "string") throw new TypeError("not a result");
    const nodes = [element("p", "leaning-headline", element("span", "leaning-kicker", "Leaning:"), ` ${doc.headline}.`)];
    const questions = (doc.open && doc.open.questions) || [];
    const share = doc.open && doc.open.wins ? doc.open.wins[doc.recommendation] : undefined;
    if (questions.length && typeof share === "number") nodes.push(openSentence(share, questions));
    const unmet = (doc.unmet_needs && doc.unmet_needs[doc.recommendation]) || [];
    if (unmet.length) {
      nodes.push(element("ul", "leaning-unmet", ...unmet.map((need) => element("li", "", `Leaves unmet — ${need.text}`))));
    }
    return nodes;
  }

  function show(nodes) {
    const box = element("div", "", ...nodes);
    if (box.textContent === shown) return; // the same words: nothing new to announce
    shown = box.textContent;
    region.replaceChildren(...nodes);
  }

  async function update() {
    const number = ++latest;
    if (pending) pending.abort();
    pending = null;
    const answers = query();
    if (!answers) {
      // Nothing answered: no request; say so only if a leaning was shown before.
      if (shown) show([element("p", "", "Answer a question to see which way it leans.")]);
      return;
    }
    const controller = window.AbortController ? new AbortController() : null;
    pending = controller;
    try {
      const response = await fetch(`${api}?${answers}`, {
        headers: { Accept: "application/json" },
        signal: controller ? controller.signal : undefined,
      });
      if (!response.ok) return;
      const doc = await response.json();
      if (number !== latest) return; // a newer request was made meanwhile: this answer is stale
      show(describe(doc));
    } catch {
      // A network error, an aborted (superseded) request or an unexpected answer: keep the last leaning.
    } finally {
      if (pending === controller) pending = null;
    }
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, DEBOUNCE_MS);
  }

  // Shown now, while still empty (and so taking no space), so that screen readers announce what is put in it later.
  region.hidden = false;
  form.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type === "radio") schedule();
  });
  if (query()) update(); // answers already ticked: a prefilled questionnaire, or one restored by the browser
})();
