using System.Security.Cryptography;
using System.Text;

namespace TinyChat.Storage;

/// <summary>Access tokens are stored only as SHA-256 hashes; tokens are high-entropy, so no salt or stretching is needed.</summary>
public static class TokenHash
{
    /// <summary>The stored form of a token.</summary>
    public static byte[] Of(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>Compares two hashes in constant time.</summary>
    public static bool Matches(byte[] stored, byte[] presented) => CryptographicOperations.FixedTimeEquals(stored, presented);
}
