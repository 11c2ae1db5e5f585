using Microsoft.Playwright;

namespace TinyChat.Tests.Browser;

/// <summary>
/// A network outage for one page, made inside the page: while it is down, every WebSocket the page opens asks the same
/// server for a path that is not a WebSocket (the upgrade fails at once, as an unreachable server would). Chromium's
/// offline emulation is not used: it may hold a close from the server back from the page until it is online again
/// (seen under load: a page still "Connected" 30 s after the server closed it).
/// </summary>
internal static class PageNetwork
{
    private const string Script = """
        (() => {
          const Native = window.WebSocket;
          window.__tinychatNetworkDown = false;
          window.__tinychatRefused = 0;
          window.WebSocket = class extends Native {
            constructor(url, protocols) {
              if (window.__tinychatNetworkDown) {
                url = new URL('/network-down-in-test', url).href;
                window.__tinychatRefused++;
              }
              super(url, protocols);
            }
          };
        })();
        """;

    /// <summary>Installs the switch; pass as <c>beforeOpen</c> to OpenChatAsync.</summary>
    public static Task InstallAsync(IBrowserContext context) => context.AddInitScriptAsync(Script);

    /// <summary>Later connection attempts of <paramref name="page"/> fail until <see cref="UpAsync"/>; open ones stay.</summary>
    public static Task DownAsync(IPage page) => page.EvaluateAsync("() => { window.__tinychatNetworkDown = true; }");

    /// <summary>Waits until the page has tried to connect while the network was down (its reconnect failed).</summary>
    public static Task RefusedAttemptAsync(IPage page) => page.WaitForFunctionAsync("() => window.__tinychatRefused > 0");

    public static Task UpAsync(IPage page) => page.EvaluateAsync("() => { window.__tinychatNetworkDown = false; }");
}
