// The demo storefront: every list it shows comes from the recsys API, and everything a shopper
// does goes back through POST /events with the list's request_id and the item's position, so
// the operator dashboard can attribute clicks and sales to the strategy and variant that
// earned them. Plain ES modules, no build step, nothing loaded from elsewhere.

import { ApiError, EventSender, get, post, randomId } from "../lib/api.js";
import { productArt } from "../lib/art.js";

const params = new URLSearchParams(location.search);
// Real Online Retail customers, the busiest in the last week of the data (what `--demo` loads).
const DEMO_CUSTOMERS = (params.get("customers") || "14096,17841,13521,14911,12748")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);

const $ = (sel, root = document) => root.querySelector(sel);
const view = $("#view");
const money = new Intl.NumberFormat("en-GB", { style: "currency", currency: "GBP" });

// --- who is shopping -----------------------------------------------------------------------
const state = {
  sessionId: localStorage.getItem("recsys.session") || randomId().slice(0, 16),
  userId: localStorage.getItem("recsys.user") || "",
  cart: JSON.parse(localStorage.getItem("recsys.cart") || "[]"),
  products: new Map(JSON.parse(sessionStorage.getItem("recsys.products") || "[]")),
  lists: 0,
};
localStorage.setItem("recsys.session", state.sessionId);

function subject() {
  return state.userId ? { user_id: state.userId } : { session_id: state.sessionId };
}

/** The owner fields every event carries: the session always (a login merges it into the user). */
function owner() {
  return state.userId
    ? { user_id: state.userId, session_id: state.sessionId }
    : { session_id: state.sessionId };
}

const sender = new EventSender({
  onSent: (batch, reply) => {
    window.__recsysSent = (window.__recsysSent || 0) + batch.length;
    status(`sent ${window.__recsysSent} events (last batch: ${reply.accepted} new, ${reply.duplicates} duplicates)`);
  },
});
window.__recsys = { sender, state };

function track(type, fields = {}) {
  sender.push({ type, ...owner(), ...fields });
}

function status(text) {
  $("#status").textContent = text;
}

function remember(items) {
  for (const it of items) state.products.set(it.product_id, it);
  const recent = Array.from(state.products.entries()).slice(-400);
  sessionStorage.setItem("recsys.products", JSON.stringify(recent));
}

function saveCart() {
  localStorage.setItem("recsys.cart", JSON.stringify(state.cart));
  $("#cart-count").textContent = state.cart.reduce((n, l) => n + l.quantity, 0);
}

// --- lists, impressions and clicks -----------------------------------------------------------
export function titleCase(text) {
  return String(text || "")
    .toLowerCase()
    .replace(/\b([a-z])/g, (m) => m.toUpperCase());
}

// One impression per item shown: sent when at least half of the card is in view, once per list.
const seen = new Set();
const observer = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const card = entry.target;
      observer.unobserve(card);
      const key = `${card.dataset.requestId}|${card.dataset.productId}`;
      if (seen.has(key)) continue;
      seen.add(key);
      track("impression", {
        product_id: card.dataset.productId,
        context: {
          request_id: card.dataset.requestId,
          position: Number(card.dataset.position),
          page: card.dataset.page,
        },
      });
    }
  },
  { threshold: 0.5 },
);

function listContext(card) {
  return {
    request_id: card.dataset.requestId,
    position: Number(card.dataset.position),
    page: card.dataset.page,
  };
}

function card(item, position, reply, page) {
  const node = $("#card").content.firstElementChild.cloneNode(true);
  Object.assign(node.dataset, {
    productId: item.product_id,
    requestId: reply.request_id,
    position: String(position),
    page,
  });
  const href = `#/p/${encodeURIComponent(item.product_id)}`;
  const art = $(".art", node);
  art.innerHTML = productArt(item);
  const title = $(".title", node);
  title.textContent = titleCase(item.title || item.product_id);
  for (const link of [art, title]) {
    link.href = href;
    link.addEventListener("click", (ev) => {
      ev.preventDefault();
      const from = listContext(node);
      track("click", { product_id: item.product_id, context: from });
      sessionStorage.setItem(`recsys.from.${item.product_id}`, JSON.stringify(from));
      location.hash = href;
    });
  }
  $(".price", node).textContent = item.price == null ? "" : money.format(item.price);
  $(".cat", node).textContent = item.category || "";
  $(".reason", node).textContent = item.reason || "";
  $(".add", node).addEventListener("click", () => addToCart(item, 1, listContext(node)));
  return node;
}

/** A titled list of recommendations (a row, or a grid for search and browsing); ``title``
 * and ``empty`` may be functions of the reply. */
function renderList(container, reply, { title, sub = "", page, layout = "row", empty }) {
  if (typeof title === "function") title = title(reply);
  if (typeof empty === "function") empty = empty(reply);
  remember(reply.items);
  state.lists += 1;
  const section = document.createElement("section");
  section.className = "list";
  section.dataset.strategy = reply.strategy;
  section.dataset.variant = reply.variant || "default";
  section.dataset.requestId = reply.request_id;
  // A search reply with matched: false lists the nearest products, not matches.
  if (reply.matched === false) section.classList.add("nearest");
  const h = document.createElement("h2");
  h.innerHTML = `<span></span><span class="sub"></span>
    <span class="badge explain-only"></span><span class="badge variant explain-only"></span>`;
  h.children[0].textContent = title;
  h.children[1].textContent = sub;
  h.children[2].textContent = reply.strategy;
  h.children[3].textContent = `variant ${reply.variant || "default"}`;
  if (reply.degraded) {
    const d = document.createElement("span");
    d.className = "badge degraded explain-only";
    d.textContent = "degraded";
    h.append(d);
  }
  section.append(h);
  const box = document.createElement("div");
  box.className = layout;
  if (!reply.items.length) {
    const note = document.createElement("div");
    note.className = "empty";
    note.textContent = empty || "Nothing to show yet.";
    box.append(note);
  }
  reply.items.forEach((item, i) => {
    const node = card(item, i, reply, page);
    box.append(node);
    observer.observe(node);
  });
  section.append(box);
  container.append(section);
  return section;
}

async function tryList(container, load, opts) {
  try {
    return renderList(container, await load(), opts);
  } catch (err) {
    const p = document.createElement("p");
    p.className = "empty";
    const label = typeof opts.title === "function" ? opts.label : opts.title;
    p.textContent = `${label}: ${err instanceof ApiError ? err.status : err.message}`;
    container.append(p);
    return null;
  }
}

// --- cart ------------------------------------------------------------------------------------
function addToCart(item, quantity, from) {
  const line = state.cart.find((l) => l.product_id === item.product_id);
  if (line) line.quantity += quantity;
  else
    state.cart.push({
      product_id: item.product_id,
      title: item.title,
      price: item.price,
      category: item.category,
      quantity,
      from: from || null,
    });
  saveCart();
  track("add_to_cart", {
    product_id: item.product_id,
    quantity,
    price: item.price ?? undefined,
    ...(from ? { context: from } : {}),
  });
  status(`added ${titleCase(item.title || item.product_id)} to the cart`);
}

// --- pages -----------------------------------------------------------------------------------
async function home() {
  view.innerHTML = "";
  const who = state.userId ? `customer ${state.userId}` : "you (anonymous session)";
  const forYou = state.userId || `session:${state.sessionId}`;
  await tryList(
    view,
    () => get(`/users/${encodeURIComponent(forYou)}/recommendations`, { limit: 12 }),
    { title: "For you", sub: `picked for ${who}`, page: "home" },
  );
  await tryList(view, () => get("/trending", { limit: 24, ...subject() }), {
    title: "Popular right now",
    page: "home",
    layout: "grid",
  });
}

async function search(q) {
  view.innerHTML = "";
  $("#search-input").value = q;
  track("search", { query: q });
  // matched: false — nothing matched: the items (if any) are the nearest products, shown as
  // such, never as results.
  await tryList(view, () => get("/search", { q, limit: 24, ...subject() }), {
    label: `Results for “${q}”`,
    title: (reply) =>
      reply.matched !== false
        ? `Results for “${q}”`
        : reply.degraded
          ? "Search is unavailable right now — popular products"
          : reply.items.length
            ? `No exact match for “${q}” — you might mean`
            : `No match for “${q}”`,
    empty: `Nothing matches “${q}”. Try other words, or browse the popular products.`,
    page: "search",
    layout: "grid",
  });
}

async function product(id) {
  view.innerHTML = "";
  const from = JSON.parse(sessionStorage.getItem(`recsys.from.${id}`) || "null");
  const item = state.products.get(id) || { product_id: id, title: id };
  track("view", { product_id: id, context: { page: "product" } });
  const box = document.createElement("div");
  box.className = "product";
  box.innerHTML = `<div class="art">${productArt(item)}</div>
    <div><h1></h1><div class="cat"></div><div class="price"></div>
    <p>Stock code <code></code></p>
    <p><input class="qty" type="number" min="1" value="1" aria-label="quantity">
    <button class="btn primary" type="button">Add to cart</button></p></div>`;
  $("h1", box).textContent = titleCase(item.title);
  $(".cat", box).textContent = item.category || "";
  $(".price", box).textContent = item.price == null ? "" : money.format(item.price);
  $("code", box).textContent = id;
  $("button", box).addEventListener("click", () =>
    addToCart(item, Math.max(1, Number($(".qty", box).value) || 1), from),
  );
  view.append(box);
  const pid = encodeURIComponent(id);
  await Promise.all([
    tryList(view, () => get(`/products/${pid}/bought-together`, { limit: 8, ...subject() }), {
      title: "Frequently bought together",
      page: "product",
    }),
    tryList(view, () => get(`/products/${pid}/similar`, { limit: 12, ...subject() }), {
      title: "Similar products",
      page: "product",
    }),
  ]);
}

async function cart() {
  view.innerHTML = "<h1>Your cart</h1>";
  if (!state.cart.length) {
    view.insertAdjacentHTML("beforeend", `<p class="empty">The cart is empty.</p>`);
    return;
  }
  const table = document.createElement("table");
  table.className = "cart";
  table.innerHTML = `<thead><tr><th>Product</th><th class="num">Price</th><th class="num">Qty</th>
    <th class="num">Total</th><th></th></tr></thead><tbody></tbody>`;
  let total = 0;
  for (const line of state.cart) {
    const tr = document.createElement("tr");
    const sum = (line.price || 0) * line.quantity;
    total += sum;
    tr.innerHTML = `<td><a></a></td><td class="num"></td><td class="num"></td><td class="num"></td>
      <td><button class="btn ghost" type="button">remove</button></td>`;
    const a = $("a", tr);
    a.textContent = titleCase(line.title || line.product_id);
    a.href = `#/p/${encodeURIComponent(line.product_id)}`;
    tr.children[1].textContent = line.price == null ? "" : money.format(line.price);
    tr.children[2].textContent = line.quantity;
    tr.children[3].textContent = money.format(sum);
    $("button", tr).addEventListener("click", () => {
      state.cart = state.cart.filter((l) => l !== line);
      saveCart();
      track("remove_from_cart", { product_id: line.product_id, quantity: line.quantity });
      cart();
    });
    $("tbody", table).append(tr);
  }
  view.append(table);
  view.insertAdjacentHTML("beforeend", `<div class="total">Total ${money.format(total)}</div>`);
  const buy = document.createElement("button");
  buy.className = "btn primary";
  buy.id = "checkout";
  buy.textContent = "Place order";
  buy.addEventListener("click", checkout);
  view.append(buy);
  await tryList(
    view,
    () =>
      post("/recommendations/cart", {
        product_ids: state.cart.map((l) => l.product_id),
        limit: 8,
        ...subject(),
      }),
    { title: "Complete your basket", page: "cart" },
  );
}

async function checkout() {
  const order = `web-${randomId().slice(0, 10)}`;
  for (const line of state.cart) {
    track("purchase", {
      product_id: line.product_id,
      order_id: order,
      quantity: line.quantity,
      price: line.price ?? undefined,
      ...(line.from ? { context: line.from } : {}),
    });
  }
  await sender.flush();
  state.cart = [];
  saveCart();
  view.innerHTML = `<div class="notice">Thank you! Order <b></b> is placed.</div>`;
  $("b", view).textContent = order;
  await tryList(view, () => get(`/users/${encodeURIComponent(state.userId || `session:${state.sessionId}`)}/recommendations`, { limit: 12 }), {
    title: "You may also like",
    page: "order",
  });
}

// --- routing and header ---------------------------------------------------------------------
async function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  document.body.dataset.ready = "0";
  try {
    if (hash.startsWith("/p/")) await product(hash.slice(3));
    else if (hash.startsWith("/search/")) await search(hash.slice(8));
    else if (hash === "/cart") await cart();
    else await home();
  } finally {
    document.body.dataset.ready = "1";
    scrollTo(0, 0);
  }
}

function setupHeader() {
  const select = $("#customer");
  const options = [["", "Anonymous visitor"], ...DEMO_CUSTOMERS.map((c) => [c, `Customer ${c}`])];
  if (state.userId && !DEMO_CUSTOMERS.includes(state.userId)) {
    options.push([state.userId, `Customer ${state.userId}`]);
  }
  options.push(["?", "Other customer id…"]);
  for (const [value, label] of options) select.add(new Option(label, value));
  select.value = state.userId;
  select.addEventListener("change", () => {
    let id = select.value;
    if (id === "?") id = (prompt("Customer id (e.g. 12347)") || "").trim();
    state.userId = id;
    if (id) localStorage.setItem("recsys.user", id);
    else {
      localStorage.removeItem("recsys.user");
      // A new anonymous visitor: a fresh session, so two shoppers' sessions never mix.
      state.sessionId = randomId().slice(0, 16);
      localStorage.setItem("recsys.session", state.sessionId);
    }
    if (id && !Array.from(select.options).some((o) => o.value === id)) {
      select.add(new Option(`Customer ${id}`, id), select.options.length - 1);
    }
    select.value = id;
    route();
  });
  $("#search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("#search-input").value.trim();
    if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
  });
  const explain = $("#explain");
  explain.checked = localStorage.getItem("recsys.explain") === "1";
  document.body.classList.toggle("explain", explain.checked);
  explain.addEventListener("change", () => {
    document.body.classList.toggle("explain", explain.checked);
    localStorage.setItem("recsys.explain", explain.checked ? "1" : "0");
  });
}

setupHeader();
saveCart();
status(`session ${state.sessionId}`);
addEventListener("hashchange", route);
route();
