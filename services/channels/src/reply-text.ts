/**
 * A reply's text cut to a channel's limit (in UTF-16 units, as the channels count), ending in an
 * ellipsis: one reply stays one message. The cut never splits a surrogate pair, which would
 * leave a lone half the channel refuses or shows as garbage.
 */
export function cutReplyText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  return `${text.slice(0, limit - 1).replace(/[\uD800-\uDBFF]$/, "")}…`;
}
