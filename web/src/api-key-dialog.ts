/** Asks for the gateway's API key: opened from the top bar, or by itself when the gateway refuses a call. */
import { apiKey, isKeyRemembered, setApiKey, unauthenticatedEvent } from "./api-key.js";
import { h, setText } from "./dom.js";

export function createApiKeyDialog(dialog: HTMLDialogElement, opener: HTMLButtonElement): void {
  const reason = h("p", { class: "hint", id: "api-key-reason" });
  const input = h("input", {
    type: "password",
    id: "api-key-input",
    name: "api-key",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "api-key-reason",
  });
  const remember = h("input", { type: "checkbox", id: "api-key-remember" });
  const save = h("button", { type: "submit", class: "button primary" }, "Save");
  const forget = h("button", { type: "button", class: "button" }, "Forget key");
  const cancel = h("button", { type: "button", class: "button" }, "Cancel");
  const form = h(
    "form",
    { method: "dialog", class: "api-key-form" },
    h("h2", { id: "api-key-title" }, "API key"),
    reason,
    h("label", { for: "api-key-input" }, "Key"),
    input,
    h("label", { class: "check" }, remember, " Remember on this device"),
    h("div", { class: "dialog-actions" }, forget, cancel, save),
  );
  dialog.classList.add("small-dialog");
  dialog.setAttribute("aria-labelledby", "api-key-title");
  dialog.replaceChildren(form);

  function open(message = ""): void {
    setText(
      reason,
      message
        ? `The gateway refused the call (${message}). Ask its operator for a key.`
        : "Only needed when the gateway was started with IMGC_API_KEYS.",
    );
    input.value = apiKey();
    remember.checked = isKeyRemembered();
    forget.hidden = apiKey() === "";
    if (!dialog.open) dialog.showModal();
    input.focus();
  }

  function refresh(): void {
    setText(opener, apiKey() ? "API key ✓" : "API key");
  }

  form.addEventListener("submit", () => {
    setApiKey(input.value.trim(), remember.checked);
    refresh();
  });
  forget.addEventListener("click", () => {
    setApiKey("", false);
    refresh();
    dialog.close();
  });
  cancel.addEventListener("click", () => dialog.close());
  opener.addEventListener("click", () => open());
  window.addEventListener(unauthenticatedEvent, (event) => open(String((event as CustomEvent).detail ?? "")));
  refresh();
}
