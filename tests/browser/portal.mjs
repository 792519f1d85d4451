// Walks Berth's portal in Debian's chromium, as a Harbor user would: sign in, create a project,
// add a member, see a pushed image, create a robot and push with its secret, add a registry
// endpoint and a replication policy and watch its execution succeed, delete a tag, and be
// refused the admin pages as a non-admin; and use it without JavaScript, at 360 px and by
// keyboard. No page may load from another origin, fail to load a file, or log a script error or
// an invalid `pattern` to the console. Started by crates/berth/tests/portal.rs, which sets the
// environment below and checks the outcome through the API afterwards.
//
// Prints one line per step; exits non-zero with the reason on the first failure.

import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("PORTAL_URL"); // http://127.0.0.1:PORT
const host = new URL(base).host;
const adminPassword = env("PORTAL_ADMIN_PASSWORD");
const [devUser, devPassword] = env("PORTAL_DEV_USER").split(":");
const image = env("PORTAL_IMAGE"); // oci:DIR:TAG
const layers = Number(env("PORTAL_IMAGE_LAYERS"));
const upstream = env("PORTAL_UPSTREAM_URL");
const shots = env("PORTAL_SCREENSHOTS");
const policy = env("PORTAL_SKOPEO_POLICY");
const project = "portal-e2e";
mkdirSync(shots, { recursive: true });

const check = (condition, message) => {
  if (!condition) throw new Error(message);
};
const step = (name) => console.log(`ok ${name}`);
// The rows of `table` whose first cell is exactly `text`.
const rowsNamed = (page, table, text) =>
  page.locator(`${table} tbody tr`).filter({ has: page.locator("td:first-child", { hasText: new RegExp(`^\\s*${text}\\s*$`) }) });

function skopeoPush(tag, creds) {
  execFileSync(
    "skopeo",
    ["--policy", policy, "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", creds, image, `docker://${host}/${project}/app:${tag}`],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});
// Every request a page makes must stay on the server's origin and succeed, and no page may log a
// script error or an invalid `pattern` (the browser then skips that check and says so only in the
// console). A page's own status is checked where the journey expects one: a 401, 403 or 404 page
// is logged as "Failed to load resource" and is no problem.
const foreign = [];
const problems = [];
const watch = async (page) => {
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(base) && !url.startsWith("data:")) foreign.push(url);
  });
  page.on("response", (response) => {
    if (response.status() >= 400 && !response.request().isNavigationRequest()) {
      problems.push(`${page.url()}: ${response.url()} answered ${response.status()}`);
    }
  });
  page.on("console", (message) => {
    const type = message.type();
    const text = message.text();
    if (text.startsWith("Failed to load resource: the server responded with a status of")) return;
    if (type === "error" || (type === "warning" && /pattern/i.test(text))) {
      problems.push(`${page.url()}: console ${type}: ${text}`);
    }
  });
  page.on("pageerror", (error) => problems.push(`${page.url()}: uncaught ${error.message}`));
  // The browser compiles a `pattern` only when it validates the input: validate every one as the
  // page loads, so that a bad pattern is reported even on a form the journey does not submit.
  await page.addInitScript(() =>
    document.addEventListener("DOMContentLoaded", () => {
      for (const input of document.querySelectorAll("[pattern]")) input.checkValidity();
    }),
  );
};

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  await watch(page);
  page.on("dialog", (dialog) => dialog.accept());

  // Sign in: an unauthenticated visit lands on the sign-in page, and comes back after.
  await page.goto(`${base}/harbor/projects`);
  check(page.url().includes("/harbor/sign-in"), `not sent to sign in: ${page.url()}`);
  await page.fill("#principal", "admin");
  await page.fill("#password", "wrong-password");
  await page.click("#sign-in");
  check(await page.isVisible(".error"), "a wrong password shows no error");
  await page.fill("#password", adminPassword);
  await page.screenshot({ path: `${shots}/sign-in.png` });
  await page.click("#sign-in");
  await page.waitForURL(`${base}/harbor/projects`);
  check((await page.textContent("#account-link")).trim() === "admin", "not signed in as admin");
  step("sign in");

  // Create a project: a bad name is refused with a message, a good one is created.
  await page.click("#new-project summary");
  await page.fill("#project_name", "Not_Valid");
  check(await page.$eval("#project_name", (input) => !input.checkValidity()), "the browser accepts a bad project name");
  await page.$eval("#project_name", (input) => input.removeAttribute("pattern")); // the server must refuse it too
  await page.click("#create-project");
  check((await page.textContent(".error")).includes("lowercase"), "a bad project name is not explained");
  if (!(await page.$eval("#new-project", (details) => details.open))) await page.click("#new-project summary");
  await page.fill("#project_name", project);
  check(await page.$eval("#project_name", (input) => input.checkValidity()), `the browser refuses ${project}`);
  await page.fill("#new-project input[name=storage_limit]", "10");
  await page.selectOption("#new-project select[name=storage_unit]", "MiB");
  await page.click("#create-project");
  await page.waitForURL(/\/harbor\/projects\/\d+\/repositories$/);
  check((await page.textContent("h1")).includes(project), "the new project's page is not shown");
  const projectUrl = page.url().replace(/\/repositories$/, "");
  step("create a project");

  // Add a member.
  await page.goto(`${projectUrl}/members`);
  await page.fill("#member-username", devUser);
  await page.selectOption("#member-role", { label: "Developer" });
  await page.click("#add-member button[type=submit]");
  await page.waitForURL(`${projectUrl}/members`);
  const devRow = rowsNamed(page, "#members", devUser);
  check((await devRow.count()) === 1, "the member is not listed");
  check((await devRow.locator("select option:checked").textContent()).trim() === "Developer", "the member's role is wrong");
  await page.screenshot({ path: `${shots}/members.png`, fullPage: true });
  step("add a member");

  // Push with skopeo, then see the repository, its tag, size and layers.
  skopeoPush("v1", `admin:${adminPassword}`);
  await page.goto(`${projectUrl}/repositories`);
  await page.click(`text=${project}/app`);
  await page.waitForSelector("#artifacts");
  const row = page.locator("#artifacts tbody tr").first();
  check((await row.locator(".tags").textContent()).includes("v1"), "tag v1 is not listed");
  check(/\d(\.\d)? (B|KiB|MiB)/.test(await row.textContent()), "the artifact's size is not shown");
  await row.locator("a.digest").click();
  await page.waitForSelector("#layers");
  check((await page.locator("#layers tbody tr").count()) === layers, `not ${layers} layers`);
  check((await rowsNamed(page, "#tags", "v1").count()) === 1, "tag v1 missing on the artifact page");
  await rowsNamed(page, "#tags", "v1").locator("button.copy").click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied === `podman pull ${host}/${project}/app:v1`, `the tag's Copy button copied ${copied}`);
  check(/(B|KiB|MiB)$/.test((await page.textContent("#artifact-size")).trim()), "no size on the artifact page");
  await page.screenshot({ path: `${shots}/artifact.png`, fullPage: true });
  const artifactUrl = page.url();
  step("push an image and see its tags, layers and size");

  // A robot account: its secret is shown once, and pushes.
  await page.goto(`${projectUrl}/robots`);
  await page.fill("#robot-name-input", "ci");
  await page.check("input[value='repository:push']");
  await page.click("#create-robot");
  const robotName = (await page.textContent("#robot-name")).trim();
  const secret = (await page.textContent("#robot-secret")).trim();
  check(robotName === `robot$${project}+ci` && secret.length >= 8, `no robot secret shown: ${robotName}`);
  check(!page.url().includes(secret), "the secret is in the URL");
  skopeoPush("v2", `${robotName}:${secret}`);
  await page.goto(artifactUrl);
  check((await rowsNamed(page, "#tags", "v2").count()) === 1, "the robot's push is not shown");
  step("create a robot and push with its secret");

  // A tag immutability rule, added from the project's tab (for release tags: the journey goes on
  // to delete v2).
  await page.goto(`${projectUrl}/immutability`);
  await page.fill("#rule-tag", "release-*");
  await page.click("#add-rule");
  await page.waitForURL(`${projectUrl}/immutability`);
  const ruleRows = page.locator("#immutability-rules tbody tr");
  check((await ruleRows.count()) === 1 && (await ruleRows.first().textContent()).includes("release-*"), "the rule is not listed");
  step("add a tag immutability rule");

  // A global label (Administration → Labels) and a project label (the project's tab); the global
  // one put on the artifact shows as a chip in the list, which its filter narrows; then off again.
  await page.goto(`${base}/harbor/labels`);
  await page.fill("#label-name", "release");
  await page.fill("#label-color", "#1188ff");
  await Promise.all([page.waitForURL(`${base}/harbor/labels`), page.click("#create-label")]);
  check((await rowsNamed(page, "#labels", "release").count()) === 1, "the global label is not listed");
  await page.goto(`${projectUrl}/labels`);
  await page.fill("#label-name", "team-a");
  await Promise.all([page.waitForURL(`${projectUrl}/labels`), page.click("#create-label")]);
  check((await rowsNamed(page, "#labels", "team-a").count()) === 1, "the project label is not listed");
  await page.goto(artifactUrl);
  await page.selectOption("#add-label-select", { label: "release (global)" });
  await Promise.all([page.waitForURL(artifactUrl), page.click("#add-label button[value=add]")]);
  check((await page.textContent("#artifact-labels")).includes("release"), "the label is not on the artifact");
  const repositoryUrl = artifactUrl.replace(/\/artifacts\/[^/]+$/, "");
  await page.goto(repositoryUrl);
  check((await page.locator("#artifacts tbody tr").first().locator(".labels").textContent()).includes("release"), "no chip in the list");
  await page.selectOption("#label-filter-select", { label: "team-a" });
  await Promise.all([page.waitForNavigation(), page.click("#label-filter button")]);
  check((await page.textContent("#artifacts")).includes("No artifacts carrying that label"), "the filter kept an artifact without the label");
  await page.selectOption("#label-filter-select", { label: "release (global)" });
  await Promise.all([page.waitForNavigation(), page.click("#label-filter button")]);
  check((await page.locator("#artifacts tbody tr .labels").count()) === 1, "the filter lost the labelled artifact");
  await page.goto(artifactUrl);
  await Promise.all([page.waitForURL(artifactUrl), page.click("#artifact-labels button[value=remove]")]);
  check((await page.textContent("#artifact-labels")).includes("No labels."), "the label is still on the artifact");
  step("create labels, put one on an artifact, filter by it and take it off");
  // A tag retention rule from the project's tab (the ten latest pushes: nothing goes), and a
  // dry run of it, listed at once.
  await page.goto(`${projectUrl}/retention`);
  await page.click("#add-retention");
  await page.waitForURL(`${projectUrl}/retention`);
  const retentionRules = await page.locator("#retention-rules tbody tr").allTextContents();
  check(retentionRules.length === 1 && retentionRules[0].includes("latestPushedK 10"), `the retention rule is not listed: ${retentionRules}`);
  await page.click("#retention-dry-run");
  await page.waitForURL(`${projectUrl}/retention`);
  const retentionRuns = await page.locator("#retention-executions tbody tr").allTextContents();
  check(retentionRuns.length === 1 && retentionRuns[0].includes("Yes"), `the dry run is not listed: ${retentionRuns}`);
  step("add a tag retention rule and dry-run it");

  // An audit-log purge run from Clean Up, as a dry run: it shows in the history at once.
  await page.goto(`${base}/harbor/clean-up`);
  await page.check("#purge input[name=dry_run]");
  await Promise.all([page.waitForNavigation(), page.click("#purge button[value=run]")]);
  check((await page.textContent("[role=status]")).includes("Started"), "the run was not started");
  const runRows = page.locator("#runs tbody tr");
  const runs = await runRows.allTextContents();
  check(runs.some((row) => row.includes("MANUAL") && row.includes('"dry_run":true')), `the run is not in the history: ${runs}`);
  step("run an audit-log purge from Clean Up");

  // A garbage collection dry run from Clean Up's other tab: it shows in the history at once.
  await page.click("nav.tabs >> text=Garbage Collection");
  await page.waitForURL(`${base}/harbor/clean-up/gc`);
  await Promise.all([page.waitForNavigation(), page.click("#gc button[value=dry-run]")]);
  check((await page.textContent("[role=status]")).includes("Started"), "the collection was not started");
  const gcRuns = await page.locator("#gc-runs tbody tr").allTextContents();
  check(gcRuns.length === 1 && gcRuns[0].includes("MANUAL") && gcRuns[0].includes("Yes"), `the dry run is not in the history: ${gcRuns}`);
  step("dry-run a garbage collection from Clean Up");

  // A registry endpoint and a replication policy, and an execution that succeeds.
  await page.goto(`${base}/harbor/registries`);
  await page.selectOption("#new-registry select[name=type]", "docker-registry");
  await page.fill("#new-registry input[name=name]", "dist");
  await page.fill("#new-registry input[name=url]", upstream);
  await page.click("#new-registry button[value=test]");
  check((await page.textContent(".notice")).includes("Connection works"), "testing the connection failed");
  await page.selectOption("#new-registry select[name=type]", "docker-registry");
  await page.fill("#new-registry input[name=name]", "dist");
  await page.fill("#new-registry input[name=url]", upstream);
  await page.click("#create-registry");
  await page.waitForURL(`${base}/harbor/registries`);
  check((await rowsNamed(page, "#registries", "dist").count()) === 1, "the endpoint is not listed");
  await page.goto(`${base}/harbor/replications`);
  await page.fill("#policy-name", "to-dist");
  await page.selectOption("#policy-registry", { label: "dist" });
  await page.fill("#new-policy input[name=name_filter]", `${project}/**`);
  await page.click("#create-policy");
  await page.waitForURL(`${base}/harbor/replications`);
  await rowsNamed(page, "#policies", "to-dist").locator("button[value=start]").click();
  await page.waitForURL(`${base}/harbor/replications`);
  await page.locator("#executions tbody a").first().click();
  const executionUrl = page.url();
  let status = "";
  for (let i = 0; i < 120 && status !== "Succeed" && status !== "Failed"; i++) {
    await page.waitForTimeout(500);
    await page.reload();
    status = (await page.textContent("#execution-status")).trim();
  }
  check(status === "Succeed", `the execution ended ${status}`);
  check((await page.locator("#tasks tbody tr", { hasText: "Succeed" }).count()) >= 1, "no succeeded task listed");
  await page.screenshot({ path: `${shots}/execution.png`, fullPage: true });
  await page.goto(`${base}/harbor/replications`);
  await page.screenshot({ path: `${shots}/replications.png`, fullPage: true });
  step("create an endpoint and a replication policy and see an execution succeed");

  // Delete a tag (with confirmation).
  await page.goto(artifactUrl);
  await rowsNamed(page, "#tags", "v2").locator("button[value=remove]").click();
  await page.waitForURL(artifactUrl);
  check((await rowsNamed(page, "#tags", "v2").count()) === 0, "tag v2 is still there");
  check((await rowsNamed(page, "#tags", "v1").count()) === 1, "tag v1 went too");
  step("delete a tag");

  // A screenshot of each main page, as the test's output; wide screens show the admin menu's
  // links in the bar.
  check(await page.isVisible("#menu a >> text=Users"), "the admin links are hidden at 1280 px");
  const mainPages = [
    ["projects", `${base}/harbor/projects`],
    ["project-summary", projectUrl],
    ["repositories", `${projectUrl}/repositories`],
    ["artifacts", repositoryUrl],
    ["artifact", artifactUrl],
    ["members", `${projectUrl}/members`],
    ["robots", `${projectUrl}/robots`],
    ["immutability", `${projectUrl}/immutability`],
    ["project-labels", `${projectUrl}/labels`],
    ["retention", `${projectUrl}/retention`],
    ["project-logs", `${projectUrl}/logs`],
    ["project-settings", `${projectUrl}/settings`],
    ["users", `${base}/harbor/users`],
    ["registries", `${base}/harbor/registries`],
    ["replications", `${base}/harbor/replications`],
    ["execution", executionUrl],
    ["labels", `${base}/harbor/labels`],
    ["logs", `${base}/harbor/logs`],
    ["clean-up", `${base}/harbor/clean-up`],
    ["jobs", `${base}/harbor/job-service`],
    ["settings", `${base}/harbor/settings`],
    ["system", `${base}/harbor/system-info`],
    ["account", `${base}/harbor/account`],
  ];
  for (const [name, url] of mainPages) {
    const response = await page.goto(url);
    check(response.status() === 200, `${url} answered ${response.status()}`);
    await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  }
  step("every main page renders");

  // Phones (360 px): the admin menu is one button that opens its links, and neither a page nor
  // any of its tables is wider than the screen (tables show a card a row).
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(`${base}/harbor/projects`);
  const bar = await page.locator("header.top").boundingBox();
  check(bar.height <= 64, `the menu bar is ${bar.height} px high at 360 px`);
  const usersLink = page.locator("#menu a", { hasText: "Users" });
  check(!(await usersLink.isVisible()), "the admin links show before the menu is opened");
  await page.click("#menu summary");
  check(await usersLink.isVisible(), "the menu button does not show the admin links");
  await page.screenshot({ path: `${shots}/menu-360px.png` });
  await page.keyboard.press("Escape");
  check(!(await usersLink.isVisible()), "Escape does not close the menu");
  for (const [name, url] of mainPages) {
    await page.goto(url);
    // The screenshot comes first: it shows what is too wide when a check below fails.
    await page.screenshot({ path: `${shots}/${name}-360px.png`, fullPage: true });
    const [pageWidth, screenWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
    check(pageWidth <= screenWidth, `${name} is ${pageWidth} px wide at ${screenWidth} px`);
    const scrolling = await page.$$eval(".table-wrap", (wraps) =>
      wraps.filter((wrap) => wrap.scrollWidth > wrap.clientWidth).map((wrap) => wrap.querySelector("table").id),
    );
    check(scrolling.length === 0, `${name}: table ${scrolling.join(", ")} scrolls sideways at 360 px`);
  }
  step("usable at 360 px");

  // Keyboard: the first Tab reaches the skip link, and it leads to the content.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${base}/harbor/projects`);
  await page.keyboard.press("Tab");
  check((await page.evaluate(() => document.activeElement.textContent)).includes("Skip to content"), "Tab does not reach the skip link");
  // Then the brand, then the menu's links: shown in the bar, they are reachable too.
  for (let i = 0; i < 3; i++) await page.keyboard.press("Tab");
  check((await page.evaluate(() => document.activeElement.textContent)) === "Users", "Tab does not reach the admin links");
  step("keyboard");

  // Without JavaScript the pages read and the forms work (no confirmation dialog then).
  const plainContext = await browser.newContext({ javaScriptEnabled: false });
  const plain = await plainContext.newPage();
  await watch(plain);
  await plain.goto(`${base}/harbor/sign-in`);
  await plain.fill("#principal", "admin");
  await plain.fill("#password", adminPassword);
  await plain.click("#sign-in");
  await plain.waitForURL(`${base}/harbor/projects`);
  await plain.goto(artifactUrl);
  await plain.fill("#add-tag input[name=tag]", "nojs");
  await plain.click("#add-tag button[value=add]");
  await plain.waitForURL(artifactUrl);
  check((await rowsNamed(plain, "#tags", "nojs").count()) === 1, "adding a tag without JavaScript failed");
  await rowsNamed(plain, "#tags", "nojs").locator("button[value=remove]").click();
  await plain.waitForURL(artifactUrl);
  check((await rowsNamed(plain, "#tags", "nojs").count()) === 0, "deleting a tag without JavaScript failed");
  await plain.setViewportSize({ width: 360, height: 740 });
  await plain.click("#menu summary");
  await plain.click("#menu a >> text=Users");
  await plain.waitForURL(`${base}/harbor/users`);
  await plainContext.close();
  step("works without JavaScript");

  // A non-admin is refused the admin pages, and does not see them in the menu.
  const devContext = await browser.newContext();
  const dev = await devContext.newPage();
  await watch(dev);
  await dev.goto(`${base}/harbor/sign-in`);
  await dev.fill("#principal", devUser);
  await dev.fill("#password", devPassword);
  await dev.click("#sign-in");
  await dev.waitForURL(`${base}/harbor/projects`);
  check((await dev.locator("nav a", { hasText: "Users" }).count()) === 0, "a non-admin sees the Users menu");
  for (const path of ["/harbor/users", "/harbor/registries", "/harbor/replications", "/harbor/logs", "/harbor/clean-up"]) {
    const response = await dev.goto(`${base}${path}`);
    check(response.status() === 403, `${path} answered ${response.status()} to a non-admin`);
    check((await dev.textContent("h1")).includes("Not allowed"), `${path} shows no friendly 403 page`);
  }
  await dev.screenshot({ path: `${shots}/forbidden.png` });
  step("a non-admin is refused the admin pages");

  check(foreign.length === 0, `requests left the origin: ${foreign.join(", ")}`);
  step("no request left the origin");
  check(problems.length === 0, `the pages reported:\n${problems.join("\n")}`);
  step("no script error or invalid pattern in the console");
} finally {
  await browser.close();
}
