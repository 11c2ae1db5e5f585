using System.Text;

namespace TinyChat.Chat;

/// <summary>One term of a search: a word, a word prefix (<c>deplo*</c>) or a phrase (<c>"release notes"</c>).</summary>
/// <param name="Words">Lower-case words of letters and digits; one unless a phrase.</param>
/// <param name="Prefix">Whether the (single) word matches every word that starts with it.</param>
public sealed record SearchTerm(IReadOnlyList<string> Words, bool Prefix);

/// <summary>
/// A parsed search: every term must match (AND). Words are runs of letters and digits, compared without case, as
/// every store's index splits text; anything else separates words, so <c>example.com</c> is the phrase
/// <c>"example com"</c>. Parsed once in the core, so every store searches the same thing and none sees raw syntax.
/// </summary>
public sealed class SearchQuery
{
    /// <summary>Longest query, in characters.</summary>
    public const int MaxLength = 256;

    /// <summary>Most terms (words and phrases) in one query.</summary>
    public const int MaxTerms = 16;

    private SearchQuery(string text, IReadOnlyList<SearchTerm> terms)
    {
        Text = text;
        Terms = terms;
    }

    /// <summary>The query as the user wrote it.</summary>
    public string Text { get; }

    /// <summary>What must match, at least one.</summary>
    public IReadOnlyList<SearchTerm> Terms { get; }

    /// <summary>Parses a query; a <c>bad_query</c> error says what is wrong with it.</summary>
    public static Outcome<SearchQuery> Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return BadQuery("a search needs at least one word");
        }

        if (text.Length > MaxLength)
        {
            return BadQuery($"a search has at most {MaxLength} characters");
        }

        var terms = new List<SearchTerm>();
        var i = 0;
        while (i < text.Length)
        {
            if (char.IsWhiteSpace(text[i]))
            {
                i++;
                continue;
            }

            if (text[i] == '"')
            {
                var close = text.IndexOf('"', i + 1);
                if (close < 0)
                {
                    return BadQuery("a quoted phrase is not closed: add the closing \"");
                }

                var inner = text[(i + 1)..close];
                if (inner.Contains('*', StringComparison.Ordinal))
                {
                    return BadQuery("'*' ends a word outside quotes, not inside a phrase");
                }

                var words = Words(inner);
                if (words.Count > 0)
                {
                    terms.Add(new SearchTerm(words, false));
                }

                i = close + 1;
                continue;
            }

            var end = i;
            while (end < text.Length && !char.IsWhiteSpace(text[end]) && text[end] != '"')
            {
                end++;
            }

            var token = text[i..end];
            i = end;
            var star = token.IndexOf('*', StringComparison.Ordinal);
            var prefix = star >= 0;
            if (prefix && (star != token.Length - 1 || star == 0 || !char.IsLetterOrDigit(token[star - 1])))
            {
                return BadQuery("'*' may only end a word, as in deplo*");
            }

            var parts = Words(prefix ? token[..^1] : token);
            if (parts.Count == 0)
            {
                continue;
            }

            if (prefix && parts.Count > 1)
            {
                // "v1.2*": the phrase of the words before the last, and the last as a prefix.
                terms.Add(new SearchTerm(parts.Take(parts.Count - 1).ToList(), false));
                terms.Add(new SearchTerm([parts[^1]], true));
            }
            else
            {
                terms.Add(new SearchTerm(parts, prefix));
            }
        }

        if (terms.Count == 0)
        {
            return BadQuery("a search needs at least one word of letters or digits");
        }

        return terms.Count > MaxTerms
            ? BadQuery($"a search has at most {MaxTerms} words or phrases")
            : Outcome<SearchQuery>.Ok(new SearchQuery(text, terms));
    }

    /// <summary>
    /// Where the query's words are in <paramref name="text"/>: (start, length) pairs in UTF-16 code units, in order.
    /// Every word of the text equal to a word of the query (or starting with a prefix) is marked.
    /// </summary>
    public IReadOnlyList<(int Start, int Length)> Marks(string text)
    {
        var marks = new List<(int, int)>();
        var i = 0;
        while (i < text.Length)
        {
            if (!char.IsLetterOrDigit(text[i]))
            {
                i++;
                continue;
            }

            var start = i;
            while (i < text.Length && char.IsLetterOrDigit(text[i]))
            {
                i++;
            }

            var word = text[start..i].ToLowerInvariant();
            if (Matches(word))
            {
                marks.Add((start, i - start));
            }
        }

        return marks;
    }

    /// <summary>Whether every term matches <paramref name="text"/> (stores without an index: the in-memory one).</summary>
    public bool IsFoundIn(string text)
    {
        var words = Words(text);
        foreach (var term in Terms)
        {
            var found = false;
            for (var start = 0; start + term.Words.Count <= words.Count && !found; start++)
            {
                found = true;
                for (var k = 0; k < term.Words.Count && found; k++)
                {
                    var last = k == term.Words.Count - 1;
                    found = term.Prefix && last ? words[start + k].StartsWith(term.Words[k], StringComparison.Ordinal) : words[start + k] == term.Words[k];
                }
            }

            if (!found)
            {
                return false;
            }
        }

        return true;
    }

    private bool Matches(string word)
    {
        foreach (var term in Terms)
        {
            for (var k = 0; k < term.Words.Count; k++)
            {
                if (term.Prefix && k == term.Words.Count - 1 ? word.StartsWith(term.Words[k], StringComparison.Ordinal) : word == term.Words[k])
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>The lower-case words of letters and digits in <paramref name="text"/>, in order.</summary>
    public static List<string> Words(string text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        foreach (var c in text)
        {
            if (char.IsLetterOrDigit(c))
            {
                current.Append(char.ToLowerInvariant(c));
            }
            else if (current.Length > 0)
            {
                words.Add(current.ToString());
                current.Clear();
            }
        }

        if (current.Length > 0)
        {
            words.Add(current.ToString());
        }

        return words;
    }

    private static ChatError BadQuery(string why) => new("bad_query", why);
}
