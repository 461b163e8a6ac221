"""The demo's "New chat" journey written in Python (the `new-chat-script` check).

The same journey as the `new-chat` steps in demo/monitor.toml, as an example
of a journey for what steps cannot say. `run` gets the Playwright page and,
when it asks for them by name, `step` (names a step: timing, error capture
and the failing step's name, as for configured steps), `url` (the check's
url, already open) and Playwright's `expect`.
"""


async def run(page, step, expect):
    async with step("open New chat"):
        await page.get_by_role("button", name="New chat").click()
    async with step("see the new thread", timeout="5s"):
        await expect(page.locator("li.thread").first).to_be_visible()
