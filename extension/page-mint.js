// The part that runs inside the labs page, in the page's own JavaScript world (scripting world "MAIN").
//
// chrome.scripting.executeScript serialises `mintInPage` and runs it in the tab, so it must be
// self-contained: no imports, no outside names. It returns {token} or {error}; the token goes straight
// back to the worker and is never logged or stored.

export function mintInPage(action, configuredSiteKey, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const enterprise = () => globalThis.grecaptcha?.enterprise;

  // The site key the page itself uses: the render= parameter of its reCAPTCHA script, a data-sitekey
  // element, or (last) a key-shaped value in reCAPTCHA's own client configuration.
  function discoverSiteKey() {
    for (const script of document.querySelectorAll("script[src]")) {
      let url;
      try {
        url = new URL(script.src, location.href);
      } catch {
        continue;
      }
      if (!/\/recaptcha\/(enterprise|api)\.js$/.test(url.pathname)) continue;
      const render = url.searchParams.get("render");
      if (render && render !== "explicit") return render;
    }
    const element = document.querySelector("[data-sitekey]");
    if (element?.getAttribute("data-sitekey")) return element.getAttribute("data-sitekey");
    const seen = new Set();
    const search = (value, depth) => {
      if (typeof value === "string") return /^6L[\w-]{38}$/.test(value) ? value : "";
      if (!value || typeof value !== "object" || depth > 4 || seen.has(value)) return "";
      seen.add(value);
      for (const key of Object.keys(value)) {
        let found = "";
        try {
          found = search(value[key], depth + 1);
        } catch {
          found = "";
        }
        if (found) return found;
      }
      return "";
    };
    return search(globalThis.___grecaptcha_cfg?.clients, 0);
  }

  async function mint() {
    while (typeof enterprise()?.execute !== "function") {
      if (Date.now() > deadline) return { error: "this page has no grecaptcha.enterprise (is it the Flow page, and loaded?)" };
      await sleep(100);
    }
    const siteKey = configuredSiteKey || discoverSiteKey();
    if (!siteKey) return { error: "could not find the page's reCAPTCHA site key: set it in the extension's options" };
    const ready = new Promise((resolve) => enterprise().ready(resolve));
    const LATE = Symbol("late");
    const late = sleep(Math.max(0, deadline - Date.now())).then(() => LATE);
    if ((await Promise.race([ready, late])) === LATE) return { error: "grecaptcha.enterprise never became ready" };
    const token = await Promise.race([enterprise().execute(siteKey, { action }), late]);
    if (token === LATE) return { error: "grecaptcha.enterprise.execute did not answer in time" };
    if (typeof token !== "string" || !token) return { error: "the page returned no token" };
    return { token, siteKeySource: configuredSiteKey ? "options" : "page" };
  }

  return mint().catch((error) => ({ error: `grecaptcha.enterprise.execute failed: ${error?.message ?? error}` }));
}
