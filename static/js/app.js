// Ruwang shell behaviour. Kept small: pages are server-rendered; htmx does partial updates.
document.body.addEventListener("htmx:responseError", function (event) {
  var status = event.detail.xhr.status;
  var main = document.getElementById("rw-main");
  if (!main) return;
  var alert = document.createElement("div");
  alert.className = "alert alert-danger";
  alert.setAttribute("role", "alert");
  alert.textContent = (document.documentElement.lang === "en" ? "Request failed (" : "请求失败（") +
    status + (document.documentElement.lang === "en" ? ")." : "）。");
  main.prepend(alert);
});
