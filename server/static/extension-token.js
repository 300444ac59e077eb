// The "Token for the browser extension" disclosure: the relay's provider token (get_provider_token, asked when
// the disclosure opens) and a button that copies it, for pasting into the extension's options.

const $ = (id) => document.getElementById(id);

/** Wire the disclosure; `ask(type)` sends a request on the dashboard's current connection. */
export function showExtensionToken(ask) {
  const box = $("extension-token");
  const slot = $("provider-token");
  const note = $("copy-result");
  box.addEventListener("toggle", async () => {
    if (!box.open) return;
    note.textContent = "";
    try {
      slot.textContent = (await ask("get_provider_token")).data.provider_token;
      $("copy-provider-token").disabled = false;
    } catch (error) {
      slot.textContent = `not available: ${error.message}`;
    }
  });
  $("copy-provider-token").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(slot.textContent);
      note.textContent = "Copied";
    } catch {
      note.textContent = "Copying was refused: select the token and copy it by hand";
    }
  });
}
