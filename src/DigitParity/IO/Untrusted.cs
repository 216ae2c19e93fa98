using System.Globalization;
using System.Text;

namespace DigitParity.IO;

/// <summary>
/// Text that came from a file or a request, made fit for a one-line error message: control and line-separator
/// characters are escaped (no line breaks, no terminal escape sequences) and long text is cut.
/// </summary>
internal static class Untrusted
{
    /// <summary><paramref name="text"/> with control characters escaped (<c>\n</c>, <c>\u001b</c>, …), at most <paramref name="max"/> characters of it.</summary>
    public static string Quote(string? text, int max = 80)
    {
        if (text is null) return "(none)";
        var quoted = new StringBuilder(Math.Min(text.Length, max) + 8);
        foreach (char c in text.Length > max ? text[..max] : text)
        {
            switch (c)
            {
                case '\n': quoted.Append("\\n"); break;
                case '\r': quoted.Append("\\r"); break;
                case '\t': quoted.Append("\\t"); break;
                default:
                    // Surrogates too: a cut may split a pair, and lone halves cannot be printed.
                    if (char.IsControl(c) || c is '\u2028' or '\u2029'
                        || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.OtherNotAssigned or UnicodeCategory.Surrogate)
                        quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    else
                        quoted.Append(c);
                    break;
            }
        }
        if (text.Length > max) quoted.Append("...");
        return quoted.ToString();
    }
}
