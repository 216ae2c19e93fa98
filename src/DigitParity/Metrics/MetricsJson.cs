using System.Text.Json;
using DigitParity.IO;

namespace DigitParity.Metrics;

/// <summary>
/// Writes a run's per-epoch metrics as JSON:
/// <c>{"epochs":[{"epoch":1,"seconds":…,"samples_per_sec":…,"learning_rate":…,
/// "train":{"loss":…,"pooled_accuracy":…,"tasks":{"digit":{"loss":…,"accuracy":…,"confusion":[[…]]},…}},
/// "validation":{…}}]}</c>.
/// </summary>
internal static class MetricsJson
{
    /// <summary>Writes <paramref name="epochs"/> (and the final <paramref name="test"/> figures, if any) to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, IReadOnlyList<EpochResult> epochs, MetricsSnapshot? test = null)
        => AtomicFile.Write(path, stream => Write(stream, epochs, test));

    /// <summary>Writes <paramref name="epochs"/> (and <paramref name="test"/>, as a top-level "test" object) to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IReadOnlyList<EpochResult> epochs, MetricsSnapshot? test = null)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartArray("epochs");
        foreach (var epoch in epochs)
        {
            json.WriteStartObject();
            json.WriteNumber("epoch", epoch.Epoch);
            json.WriteNumber("seconds", epoch.Seconds);
            json.WriteNumber("samples_per_sec", epoch.SamplesPerSecond);
            json.WriteNumber("learning_rate", epoch.LearningRate);
            WriteSnapshot(json, "train", epoch.Train);
            WriteSnapshot(json, "validation", epoch.Validation);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        if (test is not null) WriteSnapshot(json, "test", test);
        json.WriteEndObject();
    }

    /// <summary>Writes one snapshot as a property <paramref name="name"/> of the current object.</summary>
    public static void WriteSnapshot(Utf8JsonWriter json, string name, MetricsSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(snapshot);
        json.WriteStartObject(name);
        json.WriteNumber("samples", snapshot.Samples);
        json.WriteNumber("loss", snapshot.Loss);
        json.WriteNumber("pooled_accuracy", snapshot.PooledAccuracy);
        json.WriteStartObject("tasks");
        foreach (var task in snapshot.Tasks)
        {
            json.WriteStartObject(task.Name);
            json.WriteNumber("loss", task.Loss);
            json.WriteNumber("accuracy", task.Accuracy);
            json.WriteStartArray("confusion");
            foreach (var row in task.Confusion)
            {
                json.WriteStartArray();
                foreach (long count in row) json.WriteNumberValue(count);
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>
    /// Reads what <see cref="Write(Stream, IReadOnlyList{EpochResult}, MetricsSnapshot?)"/> wrote (for example the
    /// metrics a checkpoint carries); a document of another shape is an <see cref="InvalidDataException"/> naming <paramref name="source"/>.
    /// </summary>
    public static IReadOnlyList<EpochResult> Read(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
            var epochs = new List<EpochResult>();
            foreach (var epoch in document.RootElement.GetProperty("epochs").EnumerateArray())
            {
                epochs.Add(new EpochResult(
                    epoch.GetProperty("epoch").GetInt32(),
                    epoch.GetProperty("seconds").GetDouble(),
                    epoch.GetProperty("samples_per_sec").GetDouble(),
                    ReadSnapshot(epoch.GetProperty("train")),
                    ReadSnapshot(epoch.GetProperty("validation")),
                    epoch.GetProperty("learning_rate").GetSingle()));
            }
            return epochs;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{source}: metrics are not in the digitparity metrics JSON shape ({Untrusted.Quote(e.Message, 160)})");
        }
    }

    private static MetricsSnapshot ReadSnapshot(JsonElement snapshot)
    {
        var tasks = snapshot.GetProperty("tasks").EnumerateObject().Select(task => new TaskMetrics(
            task.Name,
            task.Value.GetProperty("loss").GetDouble(),
            task.Value.GetProperty("accuracy").GetDouble(),
            task.Value.GetProperty("confusion").EnumerateArray().Select(row => row.EnumerateArray().Select(c => c.GetInt64()).ToArray()).ToArray())).ToList();
        return new MetricsSnapshot(snapshot.GetProperty("samples").GetInt64(), snapshot.GetProperty("loss").GetDouble(),
            snapshot.GetProperty("pooled_accuracy").GetDouble(), tasks);
    }
}
