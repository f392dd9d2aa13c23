/// Chat templates a config can name with `chat_template:` (mergekit's built-in names), written
/// for mixmerge. `auto` picks the template most inputs share.
public enum ChatTemplates {
    public static let builtIn: [String: String] = [
        "chatml": """
            {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
            """,
        "llama3": """
            {{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}
            """,
        "alpaca": """
            {% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}{% elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + eos_token + '\\n\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}
            """,
        "mistral": """
            {{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}
            """,
    ]

    /// `auto`, a built-in name, or literal Jinja (contains `{` and is at least 20 characters).
    public static func isValid(_ value: String) -> Bool {
        value == "auto" || builtIn[value] != nil || (value.contains("{") && value.count >= 20)
    }
}
