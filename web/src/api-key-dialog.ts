/**
 * Asks for the API key: opened from the top bar, or by itself when the gateway refuses a call. A key is
 * tried on the gateway before the page says it works: "API key ✓" means the gateway accepted it.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { apiKey, isKeyRemembered, setApiKey, unauthenticatedEvent } from "./api-key.js";
import { h, setText } from "./dom.js";

/** Asks the gateway whether the key now set is accepted: true, false, or undefined when it cannot tell. */
export type CheckKey = () => Promise<boolean | undefined>;

export function createApiKeyDialog(dialog: HTMLDialogElement, opener: HTMLButtonElement, check: CheckKey): void {
  const reason = h("p", { class: "hint", id: "api-key-reason" });
  const result = h("p", { class: "field-error", id: "api-key-result", role: "alert", hidden: true });
  const input = h("input", {
    type: "password",
    id: "api-key-input",
    name: "api-key",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "api-key-reason api-key-result",
  });
  const remember = h("input", { type: "checkbox", id: "api-key-remember" });
  const save = h("button", { type: "submit", class: "button primary" }, "Save");
  const forget = h("button", { type: "button", class: "button" }, "Forget key");
  const cancel = h("button", { type: "button", class: "button" }, "Cancel");
  const form = h(
    "form",
    { class: "api-key-form" },
    h("h2", { id: "api-key-title" }, "API key"),
    reason,
    h("label", { for: "api-key-input" }, "Key"),
    input,
    result,
    h("label", { class: "check" }, remember, " Remember on this device"),
    h("div", { class: "dialog-actions" }, forget, cancel, save),
  );
  dialog.classList.add("small-dialog");
  dialog.setAttribute("aria-labelledby", "api-key-title");
  dialog.replaceChildren(form);
  let verified = false;

  function open(message = ""): void {
    setText(
      reason,
      message
        ? "This cluster needs an API key, and the page has none or the one it has was refused. Ask the person who runs the cluster for one."
        : "Some clusters ask for a key before they compress anything. If yours does, its administrator gives you one; otherwise leave this empty.",
    );
    result.hidden = true;
    input.value = apiKey();
    remember.checked = isKeyRemembered();
    forget.hidden = apiKey() === "";
    if (!dialog.open) dialog.showModal();
    input.focus();
  }

  function refresh(): void {
    setText(opener, apiKey() && verified ? "API key ✓" : "API key");
    opener.title = apiKey() ? (verified ? "The cluster accepted this key" : "A key is set but not checked yet") : "";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    setApiKey(key, remember.checked);
    verified = false;
    refresh();
    if (!key) {
      dialog.close();
      return;
    }
    save.disabled = true;
    void check()
      .then((ok) => {
        verified = ok === true;
        refresh();
        if (ok === false) {
          result.hidden = false;
          setText(result, "The cluster refused this key. Check it for typos, or ask for a new one.");
          input.focus();
          return;
        }
        dialog.close();
      })
      .finally(() => {
        save.disabled = false;
      });
  });
  forget.addEventListener("click", () => {
    setApiKey("", false);
    verified = false;
    refresh();
    dialog.close();
  });
  cancel.addEventListener("click", () => dialog.close());
  opener.addEventListener("click", () => open());
  window.addEventListener(unauthenticatedEvent, (event) => {
    verified = false;
    refresh();
    open(String((event as CustomEvent).detail ?? ""));
  });
  refresh();
  // A key kept from an earlier visit is checked once, quietly.
  if (apiKey()) {
    void check().then((ok) => {
      verified = ok === true;
      refresh();
    });
  }
}

/** The cheapest call that needs a key: one page of one job. */
export function keyChecker(listJobs: (req: { pageSize: number }) => Promise<unknown>): CheckKey {
  return async () => {
    try {
      await listJobs({ pageSize: 1 });
      return true;
    } catch (err) {
      const code = ConnectError.from(err).code;
      if (code === Code.Unauthenticated || code === Code.PermissionDenied) return false;
      return undefined;
    }
  };
}
