using System.Text.Json.Nodes;

namespace DigitParity.Inference;

/// <summary>
/// The JSON shape of a prediction, shared by <c>predict --json</c> and the web API:
/// <c>{"heads_agree": true, "tasks": {"digit": {"label": 7, "name": "7", "probabilities": [...]}, ...}}</c>, and of an
/// explanation (the same with the input and the saliency maps).
/// </summary>
internal static class PredictionJson
{
    /// <summary>The prediction as a JSON object; tasks keep the head order.</summary>
    public static JsonObject ToJson(Prediction prediction)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        var tasks = new JsonObject();
        foreach (var task in prediction.Tasks)
        {
            tasks[task.Task] = new JsonObject
            {
                ["label"] = task.Label,
                ["name"] = task.Name,
                ["answer"] = task.Answer,
                ["answer_name"] = task.AnswerName,
                ["probabilities"] = new JsonArray(task.Probabilities.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
            };
        }
        return new JsonObject { ["rejected"] = prediction.Rejected, ["score"] = prediction.Score, ["heads_agree"] = prediction.HeadsAgree, ["tasks"] = tasks };
    }

    /// <summary>
    /// The prediction's JSON with <c>"input"</c> (the values the network saw, [0, 1]) and, per task, <c>"saliency"</c>
    /// (gradient × input of its answer, one value per input) and <c>"saliency_peak"</c> (the largest |value|).
    /// </summary>
    public static JsonObject ToJson(Explanation explanation)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        var json = ToJson(explanation.Prediction);
        json["input"] = Floats(explanation.Input);
        var tasks = json["tasks"]!.AsObject();
        foreach (var map in explanation.Heads)
        {
            tasks[map.Task]!["saliency"] = Floats(map.Values);
            tasks[map.Task]!["saliency_peak"] = map.Peak;
        }
        return json;
    }

    private static JsonArray Floats(float[] values) => new(values.Select(v => (JsonNode?)JsonValue.Create(MathF.Round(v, 6))).ToArray());
}
