using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Runtime.Intrinsics;

namespace DigitParity.Engine;

/// <summary>
/// Depth lists for <see cref="Gemm.MultiplySparse"/>: which steps of a product's depth a 5-row tile must visit
/// because its operand is non-zero there. Most MNIST pixels are 0, so fc1's forward product visits ~40 % of its
/// 784 inputs per tile of 5 images, and its weight gradient ~30 % of the batch per tile of 5 pixels.
/// Both start from a bit mask per row of the operand (bit c set when column c is non-zero).
/// </summary>
internal static unsafe class ActiveDepth
{
    /// <summary>Words per row mask for <paramref name="columns"/> columns: one bit a column, plus a zero word to read past the end.</summary>
    public static int MaskWords(int columns) => (columns + 63) / 64 + 1;

    /// <summary>Sets masks[r·words ..] to the non-zero bits of rows [<paramref name="firstRow"/>, <paramref name="endRow"/>) of a (row stride lda).</summary>
    public static void NonZeroMasks(ReadOnlySpan<float> a, int lda, int columns, int firstRow, int endRow, Span<ulong> masks)
    {
        int words = MaskWords(columns);
        ArgumentOutOfRangeException.ThrowIfNegative(firstRow);
        ArgumentOutOfRangeException.ThrowIfLessThan(endRow, firstRow);
        ArgumentOutOfRangeException.ThrowIfLessThan(lda, columns);
        if (endRow > firstRow && a.Length < (long)(endRow - 1) * lda + columns) throw new ArgumentException("a is too short for the rows.", nameof(a));
        if (masks.Length < (long)endRow * words) throw new ArgumentException("masks is too short for the rows.", nameof(masks));
        masks[(firstRow * words)..(endRow * words)].Clear();
        fixed (float* pa = a)
        fixed (ulong* pm = masks)
        {
            for (int r = firstRow; r < endRow; r++)
            {
                float* row = pa + (nint)r * lda;
                ulong* bits = pm + (nint)r * words;
                int c = 0;
                if (Vector512.IsHardwareAccelerated)
                {
                    for (; c + 16 <= columns; c += 16)
                    {
                        // -0 counts as zero: it adds nothing to a product.
                        ulong nonZero = ~Vector512.Equals(Vector512.Load(row + c), Vector512<float>.Zero).ExtractMostSignificantBits() & 0xFFFF;
                        bits[c >> 6] |= nonZero << (c & 63);
                    }
                }
                else if (Vector256.IsHardwareAccelerated)
                {
                    for (; c + 8 <= columns; c += 8)
                    {
                        ulong nonZero = ~Vector256.Equals(Vector256.Load(row + c), Vector256<float>.Zero).ExtractMostSignificantBits() & 0xFF;
                        bits[c >> 6] |= nonZero << (c & 63);
                    }
                }
                for (; c < columns; c++)
                    if (row[c] != 0f) bits[c >> 6] |= 1UL << (c & 63);
            }
        }
    }

    /// <summary>bits[w] bit i = (source[64w + i] != 0): the row mask of one row of bytes, the words past them cleared.</summary>
    public static void ByteRowMask(ReadOnlySpan<byte> source, Span<ulong> bits)
    {
        if (bits.Length < (source.Length + 63) / 64) throw new ArgumentException("bits is too short for the row.", nameof(bits));
        bits.Clear();
        int i = 0;
        fixed (byte* s = source)
        {
            if (Vector512.IsHardwareAccelerated)
                for (; i + 64 <= source.Length; i += 64)
                    bits[i >> 6] = ~Vector512.Equals(Vector512.Load(s + i), Vector512<byte>.Zero).ExtractMostSignificantBits();
            else if (Vector256.IsHardwareAccelerated)
                for (; i + 32 <= source.Length; i += 32)
                    bits[i >> 6] |= (ulong)~Vector256.Equals(Vector256.Load(s + i), Vector256<byte>.Zero).ExtractMostSignificantBits() << (i & 63);
            for (; i < source.Length; i++)
                if (s[i] != 0) bits[i >> 6] |= 1UL << (i & 63);
        }
    }

    /// <summary>
    /// Everything a product needs to skip the zeros of rows [<paramref name="firstRow"/>, <paramref name="endRow"/>) of A
    /// (<paramref name="rows"/> × <paramref name="columns"/>, dense): their <see cref="NonZeroMasks"/> (for a product
    /// over A's rows) and their <see cref="TileMasks"/> (for one over Aᵀ, or <see cref="ForColumns"/>, once every row is
    /// done).
    /// </summary>
    public static void IndexRows(ReadOnlySpan<float> a, int rows, int columns, int firstRow, int endRow, Span<ulong> masks, Span<ulong> tileMasks)
    {
        NonZeroMasks(a, columns, columns, firstRow, endRow, masks);
        TileMasks(masks, columns, rows, firstRow, endRow, tileMasks);
    }

    /// <summary>
    /// For A (m × k) read row by row: for the tiles [<paramref name="firstTile"/>, <paramref name="endTile"/>) — rows 5t..5t+4 —
    /// lists the depth steps (columns) where any of the tile's rows is non-zero, ascending, into <c>lists[t·k ..]</c>,
    /// with the count in counts[t]. <paramref name="masks"/> holds A's row masks (<see cref="NonZeroMasks"/>).
    /// </summary>
    public static void ForRows(ReadOnlySpan<ulong> masks, int m, int k, Span<int> lists, Span<int> counts, int firstTile, int endTile)
    {
        int words = MaskWords(k), tiles = Tiles(m);
        CheckTiles(masks, (long)m * words, lists, counts, tiles, k, firstTile, endTile);
        fixed (ulong* pm = masks)
        fixed (int* pl = lists)
        {
            for (int t = firstTile; t < endTile; t++)
            {
                int r0 = t * Gemm.TileRows;
                counts[t] = RowTileList(pm, words, r0, Math.Min(m, r0 + Gemm.TileRows), 0, words, pl + (nint)t * k);
            }
        }
    }

    /// <summary>Words per column of a tile-mask table of <paramref name="columns"/> columns (one bit per 5-column tile).</summary>
    public static int TileWords(int columns) => (Tiles(columns) + 63) / 64;

    /// <summary>Rows a tile-mask table holds for <paramref name="rows"/> rows (padded to whole pairs of 8-row vectors).</summary>
    public static int TileStride(int rows) => (rows + 15) / 16 * 16;

    /// <summary>
    /// For rows [<paramref name="firstRow"/>, <paramref name="endRow"/>) of A (k rows of <paramref name="columns"/>): from the
    /// row masks, one bit per tile of 5 columns, set when the tile has a non-zero in that row. Stored word-major,
    /// <c>tileMasks[w · TileStride(k) + row]</c>, so that 8 rows of one word are one vector for <see cref="ForColumns"/>.
    /// </summary>
    public static void TileMasks(ReadOnlySpan<ulong> masks, int columns, int k, int firstRow, int endRow, Span<ulong> tileMasks)
    {
        int words = MaskWords(columns), tileWords = TileWords(columns), stride = TileStride(k);
        if ((uint)firstRow > (uint)endRow || endRow > k) throw new ArgumentOutOfRangeException(nameof(endRow));
        if (masks.Length < (long)k * words) throw new ArgumentException("masks is too short.", nameof(masks));
        if (tileMasks.Length < (long)tileWords * stride) throw new ArgumentException("tileMasks is too short.", nameof(tileMasks));
        const ulong EveryFifth = 0x0084210842108421UL; // bits 0, 5, ..., 55: the first bit of 12 tiles
        Span<ulong> row = stackalloc ulong[tileWords + 1];
        fixed (ulong* pm = masks, pt = tileMasks)
        {
            for (int p = firstRow; p < endRow; p++)
            {
                ulong* bits = pm + (nint)p * words;
                row.Clear();
                // 60 columns (12 tiles) at a time: OR each tile's 5 bits into its first bit, then gather those bits.
                for (int tile = 0, bit = 0; bit < columns; tile += 12, bit += 60)
                {
                    int w = bit >> 6, offset = bit & 63;
                    ulong v = (bits[w] >> offset) | ((bits[w + 1] << 1) << (63 - offset));
                    ulong any = v | (v >> 1) | (v >> 2) | (v >> 3) | (v >> 4);
                    ulong tiles12 = Bmi2.X64.IsSupported ? Bmi2.X64.ParallelBitExtract(any, EveryFifth) : EveryFifthBits(any);
                    row[tile >> 6] |= tiles12 << (tile & 63);
                    if ((tile & 63) > 52) row[(tile >> 6) + 1] |= tiles12 >> (64 - (tile & 63));
                }
                for (int w = 0; w < tileWords; w++) pt[(nint)w * stride + p] = row[w];
            }
        }
    }

    /// <summary>
    /// For op(A) = Aᵀ with A stored k × m: for the tiles [<paramref name="firstTile"/>, <paramref name="endTile"/>) of op(A) —
    /// columns 5t..5t+4 of A — lists the rows of A where one of those columns is non-zero, ascending, into
    /// <c>lists[t·k ..]</c>, with the count in counts[t]. <paramref name="tileMasks"/> comes from <see cref="TileMasks"/>
    /// for all k rows.
    /// </summary>
    public static void ForColumns(ReadOnlySpan<ulong> tileMasks, int m, int k, Span<int> lists, Span<int> counts, int firstTile, int endTile)
    {
        int tiles = Tiles(m), stride = TileStride(k);
        CheckTiles(tileMasks, (long)TileWords(m) * stride, lists, counts, tiles, k, firstTile, endTile);
        fixed (ulong* pt = tileMasks)
        fixed (int* pl = lists)
        {
            for (int t = firstTile; t < endTile; t++) counts[t] = ColumnTileList(pt, stride, t, 0, k, pl + (nint)t * k);
        }
    }

    /// <summary>
    /// The list <see cref="ForRows"/> makes for the tile of rows [<paramref name="firstRow"/>, <paramref name="endRow"/>),
    /// restricted to the depth steps of mask words [<paramref name="firstWord"/>, <paramref name="endWord"/>): the steps
    /// where one of the rows is non-zero, ascending, into list; returns their number. Products call it per tile and depth
    /// block, into a buffer that stays in L1, instead of reading lists of the whole batch.
    /// </summary>
    internal static int RowTileList(ulong* masks, int words, int firstRow, int endRow, int firstWord, int endWord, int* list)
    {
        int found = 0;
        for (int w = firstWord; w < endWord; w++)
        {
            ulong any = 0;
            for (int r = firstRow; r < endRow; r++) any |= masks[(nint)r * words + w];
            if (any == 0) continue; // a blank stretch (MNIST's top and bottom rows): the same word in most tiles
            found = Append(list, found, (uint)any & 0xFFFF, w * 64);
            found = Append(list, found, (uint)(any >> 16) & 0xFFFF, w * 64 + 16);
            found = Append(list, found, (uint)(any >> 32) & 0xFFFF, w * 64 + 32);
            found = Append(list, found, (uint)(any >> 48), w * 64 + 48);
        }
        return found;
    }

    /// <summary>
    /// The list <see cref="ForColumns"/> makes for tile <paramref name="tile"/>, restricted to the rows [<paramref name="firstRow"/>,
    /// <paramref name="endRow"/>) of A (firstRow a multiple of 16): the rows where one of the tile's columns is
    /// non-zero, ascending, into list; returns their number.
    /// </summary>
    internal static int ColumnTileList(ulong* tileMasks, int stride, int tile, int firstRow, int endRow, int* list)
    {
        ulong* word = tileMasks + (nint)(tile >> 6) * stride;
        int shift = 63 - (tile & 63), found = 0;
        for (int p = firstRow; p < endRow; p += 16)
        {
            // Bit `tile` of 16 rows' tile masks, moved to the sign bit: 16 "row is active" flags.
            uint active = Vector512.IsHardwareAccelerated
                ? (uint)(Vector512.Load(word + p) << shift).ExtractMostSignificantBits()
                  | (uint)(Vector512.Load(word + p + 8) << shift).ExtractMostSignificantBits() << 8
                : Vector256.IsHardwareAccelerated
                ? (uint)(Vector256.Load(word + p) << shift).ExtractMostSignificantBits()
                  | (uint)(Vector256.Load(word + p + 4) << shift).ExtractMostSignificantBits() << 4
                  | (uint)(Vector256.Load(word + p + 8) << shift).ExtractMostSignificantBits() << 8
                  | (uint)(Vector256.Load(word + p + 12) << shift).ExtractMostSignificantBits() << 12
                : SignBits(word + p, shift) | SignBits(word + p + 8, shift) << 8;
            if (endRow - p < 16) active &= (1u << (endRow - p)) - 1; // rows past the range (or the table's padding)
            found = Append(list, found, active, p);
        }
        return found;
    }

    // Appends first + i for each set bit i of the 16-bit `bits` to list[found..], ascending; returns the new count.
    // One compressing store instead of a loop over the bits: which bits are set changes every step, and a loop whose
    // trip count the branch predictor cannot learn cost ~3x as much in training as in a repeated benchmark.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Append(int* list, int found, uint bits, int first)
    {
        if (Avx512F.IsSupported)
        {
            var lanes = Vector512.Create(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
            var selected = ~Vector512.Equals(Vector512.Create((int)bits) & lanes, Vector512<int>.Zero);
            int count = BitOperations.PopCount(bits);
            var packed = Avx512F.Compress(Vector512<int>.Zero, selected, Vector512<int>.Indices + Vector512.Create(first));
            Avx512F.MaskStore(list + found, Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)), packed);
            return found + count;
        }
        if (Avx2.IsSupported)
        {
            // A byte of bits at a time: its set bits' positions, packed, from a table, stored under a mask of its count.
            fixed (int* positions = BytePositionTable)
            {
                for (int half = 0; half < 16; half += 8)
                {
                    uint b = (bits >> half) & 0xFF;
                    int count = BitOperations.PopCount(b);
                    var packed = Avx.LoadVector256(positions + b * 8) + Vector256.Create(first + half);
                    Avx2.MaskStore(list + found, Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(count)), packed);
                    found += count;
                }
            }
            return found;
        }
        for (; bits != 0; bits &= bits - 1) list[found++] = first + BitOperations.TrailingZeroCount(bits);
        return found;
    }

    // For each byte value b, the positions of its set bits, ascending, in 8 ints (the rest 0); SparseRows lists with it too.
    internal static readonly int[] BytePositionTable = BytePositions();

    private static int[] BytePositions()
    {
        var table = new int[256 * 8];
        for (int b = 0; b < 256; b++)
            for (int bit = 0, n = 0; bit < 8; bit++)
                if ((b >> bit & 1) != 0) table[b * 8 + n++] = bit;
        return table;
    }

    private static ulong EveryFifthBits(ulong any)
    {
        ulong result = 0;
        for (int i = 0; i < 12; i++) result |= ((any >> (5 * i)) & 1) << i;
        return result;
    }

    private static uint SignBits(ulong* words, int shift)
    {
        uint result = 0;
        for (int i = 0; i < 8; i++) result |= (uint)((words[i] << shift) >> 63) << i;
        return result;
    }

    /// <summary>Number of 5-row tiles of <paramref name="rows"/> rows.</summary>
    public static int Tiles(int rows) => (rows + Gemm.TileRows - 1) / Gemm.TileRows;

    private static void CheckTiles(ReadOnlySpan<ulong> masks, long maskLength, Span<int> lists, Span<int> counts, int tiles, int k, int firstTile, int endTile)
    {
        if ((uint)firstTile > (uint)endTile || endTile > tiles) throw new ArgumentOutOfRangeException(nameof(endTile), $"tiles [{firstTile}, {endTile}) outside 0-{tiles}.");
        if (masks.Length < maskLength) throw new ArgumentException("masks is too short.", nameof(masks));
        if (lists.Length < (long)tiles * k || counts.Length < tiles) throw new ArgumentException("lists or counts is too short.", nameof(lists));
    }
}
