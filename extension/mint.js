// Minting a token: pick (or open) a labs tab, run mintInPage in its main world, return the token.

import { mintInPage } from "./page-mint.js";
import { matchesPattern, originOf } from "./settings.js";

const PAGE_TIMEOUT_MS = 15_000; // grecaptcha appearing, becoming ready and answering, inside the page
const LOAD_TIMEOUT_MS = 30_000; // a tab this extension opened reaching "complete"

export class MintError extends Error {}

// Tabs whose URL matches the labs pattern, the most useful first (loaded, then most recently used).
async function labsTabs(pattern) {
  const tabs = await chrome.tabs.query({ url: pattern });
  return tabs
    .filter((tab) => !tab.discarded && tab.id !== undefined)
    .sort((a, b) => Number(b.status === "complete") - Number(a.status === "complete") || (b.lastAccessed ?? 0) - (a.lastAccessed ?? 0));
}

function loaded(tabId) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new MintError("the labs page did not finish loading")), LOAD_TIMEOUT_MS);
    const listener = (id, change) => {
      if (id === tabId && change.status === "complete") finish(null);
    };
    const finish = (error) => {
      clearTimeout(timer);
      chrome.tabs.onUpdated.removeListener(listener);
      if (error) reject(error);
      else resolve();
    };
    chrome.tabs.onUpdated.addListener(listener);
    chrome.tabs.get(tabId).then((tab) => tab.status === "complete" && finish(null), () => finish(new MintError("the labs tab closed")));
  });
}

let opening = null; // one tab at a time, however many requests arrive while it loads

async function openLabsTab(settings) {
  if (!settings.labsPage) throw new MintError(`no open tab matches ${settings.labsPattern}: open the Flow page`);
  const created = await chrome.tabs.create({ url: settings.labsPage, active: false });
  await loaded(created.id);
  const tab = await chrome.tabs.get(created.id);
  // Without access to where it ended up (e.g. a Google sign-in page), tab.url is not even visible.
  if (!tab.url || !matchesPattern(settings.labsPattern, tab.url)) {
    throw new MintError(`${settings.labsPage} led elsewhere: log in to labs.google in this browser`);
  }
  return [tab];
}

function openLabsTabOnce(settings) {
  opening ??= openLabsTab(settings).finally(() => {
    opening = null;
  });
  return opening;
}

async function mintIn(tab, settings, action) {
  const [frame] = await chrome.scripting.executeScript({
    target: { tabId: tab.id },
    world: "MAIN",
    func: mintInPage,
    args: [action, settings.siteKey, PAGE_TIMEOUT_MS],
  });
  const outcome = frame?.result;
  if (outcome?.token) {
    // Keep Chrome's memory saver from discarding the tab the tokens come from.
    chrome.tabs.update(tab.id, { autoDiscardable: false }).catch(() => {});
    return outcome.token;
  }
  throw new MintError(outcome?.error ?? "the page gave no answer");
}

// A fresh token for `action` from a labs tab; throws MintError saying why none could be had.
export async function mintToken(settings, action) {
  const origin = originOf(settings.labsPattern);
  if (!origin || !(await chrome.permissions.contains({ origins: [origin] }))) {
    throw new MintError(`no access to ${settings.labsPattern}: grant it in the extension's options`);
  }
  let tabs = await labsTabs(settings.labsPattern);
  if (tabs.length === 0) tabs = await openLabsTabOnce(settings);
  const reasons = [];
  for (const tab of tabs) {
    try {
      return await mintIn(tab, settings, action);
    } catch (error) {
      reasons.push(error.message);
    }
  }
  throw new MintError(reasons.join("; "));
}
