using System.Text.Json;
using DigitParity.IO;
using DigitParity.Tasks;

namespace DigitParity.Metrics;

/// <summary>
/// Writes an evaluation as JSON: <c>{"model":…,"validation":{…MetricsJson snapshot…},"classes":{"digit":[{"class":0,
/// "name":"0","precision":…,"recall":…,"f1":…,"support":…},…],…},"consistency":[{"task":"parity","agreement":…,…}],
/// "calibration":{"digit":{"temperature":…,"ece":…,…,"bins":[…]},…}}</c>, and for a calibrated model the same at
/// temperature 1 as <c>calibration_at_temperature_1</c>; <c>joint_decision</c>: per head its accuracy alone and under
/// the joint decision, with the contradictions it resolves.
/// </summary>
internal static class EvaluationJson
{
    /// <summary>Writes the evaluation to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, string model, MetricsSnapshot snapshot, IReadOnlyList<TaskDefinition> tasks, IReadOnlyList<ConsistencyFigures> consistency,
        IReadOnlyList<CalibrationFigures>? calibration = null, IReadOnlyList<CalibrationFigures>? uncalibrated = null, IReadOnlyList<JointFigures>? joint = null)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(consistency);
        AtomicFile.Write(path, stream =>
        {
            using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            json.WriteStartObject();
            json.WriteString("model", model);
            MetricsJson.WriteSnapshot(json, "validation", snapshot);
            json.WriteStartObject("classes");
            for (int t = 0; t < tasks.Count; t++)
            {
                json.WriteStartArray(tasks[t].Name);
                foreach (var c in ClassFigures.From(tasks[t], snapshot.Tasks[t].Confusion))
                {
                    json.WriteStartObject();
                    json.WriteNumber("class", c.Class);
                    json.WriteString("name", c.Name);
                    json.WriteNumber("precision", c.Precision);
                    json.WriteNumber("recall", c.Recall);
                    json.WriteNumber("f1", c.F1);
                    json.WriteNumber("support", c.Support);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
            json.WriteStartArray("consistency");
            foreach (var c in consistency)
            {
                json.WriteStartObject();
                json.WriteString("task", c.Task);
                json.WriteNumber("samples", c.Samples);
                json.WriteNumber("agreement", c.Agreement);
                json.WriteNumber("class_accuracy_when_agree", c.ClassAccuracyWhenAgree);
                json.WriteNumber("class_accuracy_when_disagree", c.ClassAccuracyWhenDisagree);
                json.WriteNumber("task_accuracy_when_agree", c.TaskAccuracyWhenAgree);
                json.WriteNumber("task_accuracy_when_disagree", c.TaskAccuracyWhenDisagree);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            if (calibration is not null) WriteCalibration(json, "calibration", calibration);
            if (uncalibrated is not null) WriteCalibration(json, "calibration_at_temperature_1", uncalibrated);
            if (joint is { Count: > 0 })
            {
                json.WriteStartObject("joint_decision");
                foreach (var f in joint)
                {
                    json.WriteStartObject(f.Task);
                    json.WriteNumber("head_accuracy", f.HeadAccuracy);
                    json.WriteNumber("joint_accuracy", f.JointAccuracy);
                    json.WriteNumber("contradictions", f.Contradictions);
                    json.WriteNumber("resolved_correctly", f.ResolvedCorrectly);
                    json.WriteEndObject();
                }
                json.WriteEndObject();
            }
            json.WriteEndObject();
        });
    }

    // {"digit":{"temperature":…,"ece":…,"mce":…,"nll":…,"brier":…,"bins":[{"lower":…,"upper":…,"count":…,"confidence":…,"accuracy":…}]}}
    private static void WriteCalibration(Utf8JsonWriter json, string name, IReadOnlyList<CalibrationFigures> figures)
    {
        json.WriteStartObject(name);
        foreach (var f in figures)
        {
            json.WriteStartObject(f.Task);
            json.WriteNumber("temperature", f.Temperature);
            json.WriteNumber("ece", f.ExpectedError);
            json.WriteNumber("mce", f.MaximumError);
            json.WriteNumber("nll", f.NegativeLogLikelihood);
            json.WriteNumber("brier", f.Brier);
            json.WriteStartArray("bins");
            foreach (var bin in f.Bins)
            {
                json.WriteStartObject();
                json.WriteNumber("lower", bin.Lower);
                json.WriteNumber("upper", bin.Upper);
                json.WriteNumber("count", bin.Count);
                json.WriteNumber("confidence", bin.Confidence);
                json.WriteNumber("accuracy", bin.Accuracy);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndObject();
    }
}
