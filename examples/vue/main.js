// The Vue example: the demo app's todo list through `useSession`, shared by
// every tab of this browser. Built and served by examples/frontend.mjs.
// A render function (`h`) keeps it to one file with no SFC compiler.

import { createApp, defineComponent, h, ref } from "vue";
import { TabHub } from "tabhub";
import { useSession } from "tabhub/vue";

// One hub per page, made outside any component. The token in localStorage:
// every tab of this origin joins the same session.
const socket = new URLSearchParams(location.search).get("socket") ?? "ws://127.0.0.1:4000/socket";
const hub = new TabHub({ url: socket, storage: "local" });

const Todos = defineComponent({
  setup() {
    const { state, status, tabs, push } = useSession(hub);
    const text = ref("");
    const error = ref("");

    async function add(event) {
      event.preventDefault();
      try {
        await push("add_todo", { text: text.value });
        text.value = "";
        error.value = "";
      } catch (e) {
        error.value = e.reason;
      }
    }

    return () =>
      h("main", [
        h("h1", "Todos (Vue)"),
        h("p", [
          "Connection: ",
          h("span", { "data-testid": "status", "data-state": status.value }, status.value),
          ", tabs: ",
          h("span", { "data-testid": "tabs" }, String(tabs.value ?? 0)),
        ]),
        h("form", { onSubmit: add }, [
          h("input", {
            "data-testid": "todo-input",
            value: text.value,
            onInput: (e) => (text.value = e.target.value),
            placeholder: "What to do",
          }),
          h("button", { "data-testid": "todo-add" }, "Add"),
        ]),
        error.value ? h("p", { class: "error", "data-testid": "error" }, error.value) : null,
        h(
          "ul",
          (state.value?.todos ?? []).map((todo) =>
            h("li", { key: todo.id, "data-testid": "todo-item" }, [
              h("label", [
                h("input", {
                  type: "checkbox",
                  "data-testid": "todo-done",
                  checked: todo.done,
                  onChange: () => push("toggle_todo", { id: todo.id }),
                }),
                " ",
                h("span", { "data-testid": "todo-text", class: todo.done ? "done" : "" }, todo.text),
              ]),
            ]),
          ),
        ),
      ]);
  },
});

createApp(Todos).mount("#app");
